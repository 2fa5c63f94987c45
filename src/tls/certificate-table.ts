import { createSecureContext, type SecureContext } from 'node:tls';
import type { CertificateSource } from '../server/listeners.ts';
import type { CertificatePair } from './self-signed.ts';

/**
 * The SNI table: which certificate each name gets. Starts with only the
 * fallback (self-signed) one; `install` swaps a name's certificate in one
 * assignment, so the next handshake uses it while open connections carry on
 * with the one they started with.
 */
export interface CertificateTable extends CertificateSource {
  install(names: readonly string[], pair: CertificatePair, serial: string): void;
  /** The serial of the certificate a name is served with; undefined for the fallback. */
  serialFor(name: string): string | undefined;
}

export function createCertificateTable(fallback: CertificatePair): CertificateTable {
  const byName = new Map<string, { context: SecureContext; serial: string }>();
  return {
    defaultCert: fallback,
    contextFor: (servername) => byName.get(servername.toLowerCase())?.context,
    install(names, pair, serial) {
      const entry = { context: createSecureContext(pair), serial };
      for (const name of names) byName.set(name.toLowerCase(), entry);
    },
    serialFor: (name) => byName.get(name.toLowerCase())?.serial,
  };
}
