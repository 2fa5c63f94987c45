import { isIP } from 'node:net';
import { webcrypto } from 'node:crypto';

export interface CertificatePair {
  cert: string;
  key: string;
}

/**
 * A self-signed certificate for `names`, so the HTTPS listener can answer
 * from the first second. Browsers will warn; it stands in until a real
 * certificate is configured (or, later, obtained over ACME).
 */
export async function createSelfSignedCertificate(names: readonly string[], now = new Date(), options: { addLocalhost?: boolean } = {}): Promise<CertificatePair> {
  // Loaded only when a certificate is made: the library costs memory every serving process would otherwise carry.
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<(typeof import('@peculiar/x509'))['cryptoProvider']['set']>[0]);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const all = [...new Set(options.addLocalhost === false ? names : [...names, 'localhost'])];
  const notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  const notAfter = new Date(now.getTime() + 90 * 24 * 60 * 60 * 1000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(12))).toString('hex'),
    name: `CN=${escapeDn(all[0] ?? 'localhost')}, O=Berth self-signed`,
    notBefore,
    notAfter,
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        all.map((name) => (isIP(name) !== 0 ? { type: 'ip', value: name } : { type: 'dns', value: name })),
      ),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const key = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(pkcs8).toString('base64').replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END PRIVATE KEY-----\n`;
  return { cert: cert.toString('pem'), key };
}

function escapeDn(value: string): string {
  return value.replace(/[,+"\\<>;=]/g, (char) => `\\${char}`);
}
