import { createSecureContext, type SecureContext } from 'node:tls';
import type { CertificateSource } from '../server/listeners.ts';
import type { CertificatePair } from './self-signed.ts';
import type { StandInCertificates } from './self-signed-store.ts';

/**
 * The SNI table: which certificate each name gets. Starts with only the
 * stand-ins (self-signed): the one for the configured names, shown to a
 * client that asks for one of them, and the anonymous one for every other
 * handshake (no SNI, an unknown name), which names no configured domain.
 * `install` swaps a name's certificate in one assignment, so the next
 * handshake uses it while open connections carry on with the one they
 * started with.
 */
export interface CertificateTable extends CertificateSource {
  install(names: readonly string[], pair: CertificatePair, serial: string): void;
  /** The serial of the certificate a name is served with; undefined for a stand-in. */
  serialFor(name: string): string | undefined;
}

export function createCertificateTable(standIns: StandInCertificates): CertificateTable {
  const byName = new Map<string, { context: SecureContext; serial: string }>();
  const named = createSecureContext(standIns.named);
  return {
    // What Node presents when contextFor gives nothing.
    defaultCert: standIns.anonymous,
    contextFor: (servername) => {
      const name = servername.toLowerCase();
      return byName.get(name)?.context ?? (standIns.names.has(name) ? named : undefined);
    },
    install(names, pair, serial) {
      const entry = { context: createSecureContext(pair), serial };
      for (const name of names) byName.set(name.toLowerCase(), entry);
    },
    serialFor: (name) => byName.get(name.toLowerCase())?.serial,
  };
}
