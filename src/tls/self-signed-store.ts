import { X509Certificate } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.ts';
import { createSelfSignedCertificate, type CertificatePair } from './self-signed.ts';

/** Renew the stand-in certificate when it has less than this left. */
const RENEW_BEFORE_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * The self-signed certificate, kept under `data_dir/certs/self-signed/` so
 * every serving process and every restart presents the same one (a browser
 * exception made once stays valid). Made anew when the configured names
 * change or it nears expiry.
 */
export async function ensureSelfSignedCertificate(dataDir: string, names: readonly string[], now = new Date()): Promise<CertificatePair> {
  const dir = join(dataDir, 'certs', 'self-signed');
  const wanted = [...new Set([...names, 'localhost'])].sort();
  const stored = await readStored(dir);
  if (stored !== undefined && covers(stored.cert, wanted, now)) return stored;
  const pair = await createSelfSignedCertificate(wanted, now);
  // Key first: a reader that sees the new certificate must find its key.
  await writeFileAtomic(join(dir, 'key.pem'), pair.key);
  await writeFileAtomic(join(dir, 'cert.pem'), pair.cert);
  return pair;
}

async function readStored(dir: string): Promise<CertificatePair | undefined> {
  try {
    return { cert: await readFile(join(dir, 'cert.pem'), 'utf8'), key: await readFile(join(dir, 'key.pem'), 'utf8') };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function covers(pem: string, names: readonly string[], now: Date): boolean {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    // Unreadable: replace it.
    return false;
  }
  if (Date.parse(cert.validTo) - now.getTime() < RENEW_BEFORE_MS) return false;
  const sans = new Set(
    (cert.subjectAltName ?? '')
      .split(', ')
      .map((entry) => canonical(entry.replace(/^(DNS|IP Address):/, ''))),
  );
  return names.every((name) => sans.has(canonical(name)));
}

/** IPv6 addresses have many spellings (`::1`, `0:0:0:0:0:0:0:1`); compare one. */
function canonical(name: string): string {
  return isIPv6(name) ? new URL(`http://[${name}]/`).hostname : name;
}
