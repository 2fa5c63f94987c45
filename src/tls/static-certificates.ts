import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { BerthError } from '../errors.ts';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { CertificateSource } from '../server/listeners.ts';
import { ensureSelfSignedCertificate } from './self-signed-store.ts';

/**
 * The certificate source until ACME takes over: the configured files, or a
 * self-signed certificate for every configured domain, kept in the data dir.
 */
export async function loadStaticCertificates(config: ResolvedConfig): Promise<CertificateSource> {
  const { certFile, keyFile } = config.server.tls;
  let pair: { cert: string; key: string };
  if (certFile !== undefined && keyFile !== undefined) {
    try {
      pair = { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
      createSecureContext(pair);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new BerthError('E_TLS_FILES', `Cannot use server.tls cert_file ${certFile} with key_file ${keyFile}: ${reason}; give a PEM certificate chain and its matching PEM private key`, { cause: error });
    }
  } else {
    pair = await ensureSelfSignedCertificate(config.dataDir, config.sites.flatMap((site) => site.domains));
  }
  const context = createSecureContext(pair);
  return { defaultCert: pair, contextFor: () => context };
}
