import { X509Certificate } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.ts';
import { createSelfSignedCertificate, type CertificatePair } from './self-signed.ts';

/** Renew the stand-in certificate when it has less than this left. */
const RENEW_BEFORE_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * The self-signed certificate for the configured names, kept under
 * `data_dir/certs/self-signed/` so every serving process and every restart
 * presents the same one (a browser exception made once stays valid). Made
 * anew when the configured names change or it nears expiry. It is shown
 * only to clients that ask for one of those names by SNI: see
 * `ensureAnonymousCertificate` for everyone else.
 */
export async function ensureSelfSignedCertificate(dataDir: string, names: readonly string[], now = new Date()): Promise<CertificatePair> {
  return ensureStored(join(dataDir, 'certs', 'self-signed'), [...new Set([...names, 'localhost'])].sort(), now, {});
}

/**
 * The certificate for handshakes with no SNI or a name no site has: it names
 * none of the configured domains (`berth.invalid`, under the reserved
 * `.invalid` top-level domain), so scanning an address does not list the
 * sites it hosts. Kept in `data_dir/certs/self-signed/anonymous/`.
 */
export async function ensureAnonymousCertificate(dataDir: string, configured: readonly string[], now = new Date()): Promise<CertificatePair> {
  const taken = new Set(configured.map((name) => name.toLowerCase()));
  let name = ANONYMOUS_NAME;
  for (let i = 2; taken.has(name); i++) name = `stand-in-${i}.${ANONYMOUS_NAME}`;
  return ensureStored(join(dataDir, 'certs', 'self-signed', 'anonymous'), [name], now, { addLocalhost: false });
}

const ANONYMOUS_NAME = 'berth.invalid';

/** The two stand-ins: one for the configured names, one for every other handshake. */
export interface StandInCertificates {
  readonly named: CertificatePair;
  /** The configured names, lower-case: the ones shown `named`. */
  readonly names: ReadonlySet<string>;
  readonly anonymous: CertificatePair;
}

export async function ensureStandInCertificates(dataDir: string, names: readonly string[], now = new Date()): Promise<StandInCertificates> {
  return {
    named: await ensureSelfSignedCertificate(dataDir, names, now),
    names: new Set([...names, 'localhost'].map((name) => name.toLowerCase())),
    anonymous: await ensureAnonymousCertificate(dataDir, names, now),
  };
}

async function ensureStored(dir: string, wanted: readonly string[], now: Date, options: { addLocalhost?: boolean }): Promise<CertificatePair> {
  const stored = await readStored(dir);
  if (stored !== undefined && covers(stored.cert, wanted, now)) return stored;
  const pair = await createSelfSignedCertificate(wanted, now, options);
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

/** Still valid for a while, and for exactly the names wanted (a name dropped from the config must leave the certificate too). */
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
  const wanted = new Set(names.map(canonical));
  return sans.size === wanted.size && [...wanted].every((name) => sans.has(name));
}

/** IPv6 addresses have many spellings (`::1`, `0:0:0:0:0:0:0:1`); compare one. */
function canonical(name: string): string {
  return isIPv6(name) ? new URL(`http://[${name}]/`).hostname : name;
}
