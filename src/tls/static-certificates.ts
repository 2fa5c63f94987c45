import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { BerthError } from '../errors.ts';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { CertificateSource } from '../server/listeners.ts';
import { createCertificateTable } from './certificate-table.ts';
import { ensureStandInCertificates } from './self-signed-store.ts';
import { certificateNames } from './certificate-holders.ts';

/**
 * The certificate source when ACME is off: the configured files, or the
 * self-signed stand-ins (kept in the data dir): one for the configured
 * domains (and the admin host), shown to clients that ask for one of them, and one naming none of
 * them for every other handshake.
 */
export async function loadStaticCertificates(config: ResolvedConfig): Promise<CertificateSource> {
  const { certFile, keyFile } = config.server.tls;
  if (certFile !== undefined && keyFile !== undefined) {
    // The operator's own certificate is shown for every name, SNI or not.
    let pair: { cert: string; key: string };
    try {
      pair = { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
      createSecureContext(pair);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new BerthError('E_TLS_FILES', `Cannot use server.tls cert_file ${certFile} with key_file ${keyFile}: ${reason}; give a PEM certificate chain and its matching PEM private key`, { cause: error });
    }
    const context = createSecureContext(pair);
    return { defaultCert: pair, contextFor: () => context };
  }
  return createCertificateTable(await ensureStandInCertificates(config.dataDir, certificateNames(config)));
}
