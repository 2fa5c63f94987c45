import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../tls/atomic-write.ts';

/** What a certificate says about itself. */
export interface CertificateInfo {
  names: string[];
  notBefore: Date;
  notAfter: Date;
  issuer: string;
  /** Hex, lower case. */
  serial: string;
}

export interface StoredCertificate {
  cert: string;
  key: string;
  info: CertificateInfo;
}

/** Renewal bookkeeping beside a certificate (`meta.json`); what `berth certs` shows. */
export interface RenewalState {
  /** The names the certificate is for (also when none was obtained yet). */
  names?: string[];
  /** The ACME directory the certificate came from. */
  directoryUrl?: string;
  obtainedAt?: string;
  lastCheck?: string;
  nextCheck?: string;
  /** Failed orders in a row. */
  failures?: number;
  lastError?: { code: string; message: string; at: string };
  /** The CA's renewal window (ARI) and the moment chosen in it. */
  ari?: { serial: string; start: string; end: string; chosen: string; explanationUrl?: string; fetchAfter: string };
}

/**
 * Certificates under `data_dir/certs/<key>/` (cert.pem, key.pem, meta.json).
 * An interface so the manager can be pointed at other storage; this is the
 * file one. Files are 0600 and directories 0700.
 */
export interface CertificateStorage {
  /** The stored certificate, or undefined if there is none that can be used. */
  load(key: string): Promise<StoredCertificate | undefined>;
  save(key: string, pair: { cert: string; key: string }): Promise<void>;
  loadState(key: string): Promise<RenewalState>;
  saveState(key: string, state: RenewalState): Promise<void>;
  /** Keys with something stored. */
  keys(): Promise<string[]>;
}

/** Storage keys are host names; this keeps anything else out of paths. */
const KEY_PATTERN = /^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$/;

export function createFileStorage(dataDir: string): CertificateStorage {
  const root = join(dataDir, 'certs');
  const dirOf = (key: string): string => {
    if (!KEY_PATTERN.test(key) || key.includes('..')) throw new Error(`Not a certificate storage key: ${JSON.stringify(key)}`);
    return join(root, key);
  };
  return {
    async load(key) {
      const dir = dirOf(key);
      // Twice: a save running at the same moment can be between its renames.
      for (let attempt = 0; attempt < 2; attempt++) {
        const cert = await readOptional(join(dir, 'cert.pem'));
        const privateKey = await readOptional(join(dir, 'key.pem'));
        if (cert !== undefined && privateKey !== undefined && matches(cert, privateKey)) return withInfo(cert, privateKey);
        // A save interrupted between its two renames: the key is new, the
        // certificate still waits under its .new name. Finish the save.
        const pending = await readOptional(join(dir, 'cert.pem.new'));
        if (pending !== undefined && privateKey !== undefined && matches(pending, privateKey)) {
          await rename(join(dir, 'cert.pem.new'), join(dir, 'cert.pem')).catch((error: NodeJS.ErrnoException) => {
            // Another reader, or the save itself, finished it first.
            if (error.code !== 'ENOENT') throw error;
          });
          return withInfo(pending, privateKey);
        }
        if (cert === undefined && privateKey === undefined) return undefined;
        await sleep(20);
      }
      return undefined;
    },
    async save(key, pair) {
      const dir = dirOf(key);
      // Both new files are complete on disk before either replaces the old
      // pair; `load` finishes a save cut short between the renames.
      await writeFileAtomic(join(dir, 'key.pem.new'), pair.key);
      await writeFileAtomic(join(dir, 'cert.pem.new'), pair.cert);
      await rename(join(dir, 'key.pem.new'), join(dir, 'key.pem'));
      try {
        await rename(join(dir, 'cert.pem.new'), join(dir, 'cert.pem'));
      } catch (error) {
        // A reader that saw the new key finished the rename already.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || (await readOptional(join(dir, 'cert.pem'))) !== pair.cert) throw error;
      }
    },
    async loadState(key) {
      const text = await readOptional(join(dirOf(key), 'meta.json'));
      if (text === undefined) return {};
      try {
        const state = JSON.parse(text) as unknown;
        return typeof state === 'object' && state !== null && !Array.isArray(state) ? (state as RenewalState) : {};
      } catch {
        // Bookkeeping only: a damaged file costs a check, never a certificate.
        return {};
      }
    },
    async saveState(key, state) {
      await writeFileAtomic(join(dirOf(key), 'meta.json'), `${JSON.stringify(state, null, 2)}\n`);
    },
    async keys() {
      let entries;
      try {
        entries = await readdir(root, { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
      return entries.filter((entry) => entry.isDirectory() && KEY_PATTERN.test(entry.name) && entry.name !== 'self-signed').map((entry) => entry.name).sort();
    },
  };
}

/**
 * A valid stored certificate with the most of `names` on it, from any key:
 * what serves a site whose own key has nothing yet (its first domain changed).
 */
export async function findCertificateFor(storage: CertificateStorage, names: readonly string[], at: Date): Promise<StoredCertificate | undefined> {
  let best: StoredCertificate | undefined;
  let bestCount = 0;
  for (const key of await storage.keys()) {
    const stored = await storage.load(key);
    if (stored === undefined || stored.info.notAfter <= at) continue;
    const count = names.filter((name) => stored.info.names.includes(name)).length;
    if (count > bestCount) {
      best = stored;
      bestCount = count;
    }
  }
  return best;
}

/** Reads what a PEM certificate (the first of a chain) says about itself. */
export function certificateInfo(pem: string): CertificateInfo {
  const cert = new X509Certificate(pem);
  const names = (cert.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase());
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.issuer)?.[1];
  return {
    names,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    issuer: cn ?? cert.issuer.replaceAll('\n', ', '),
    serial: cert.serialNumber.toLowerCase(),
  };
}

function withInfo(cert: string, key: string): StoredCertificate | undefined {
  try {
    return { cert, key, info: certificateInfo(cert) };
  } catch {
    return undefined;
  }
}

/** Whether `key` is the private key of the (first) certificate in `cert`. */
function matches(cert: string, key: string): boolean {
  try {
    return new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch {
    return false;
  }
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
