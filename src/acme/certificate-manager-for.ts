import { join } from 'node:path';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import { openAcmeSession, type AcmeSession } from './acme-session.ts';
import { planCertificates, type CertificatePlan } from './acme-names.ts';
import { certificateHolders } from '../tls/certificate-holders.ts';
import { createCertificateManager, type CertificateManager, type ManagerOptions } from './certificate-manager.ts';
import { createFileStorage, type StoredCertificate } from './certificate-storage.ts';
import { createChallengeStore, type ChallengeStore } from './challenge-store.ts';
import { createFileLocker } from './file-locker.ts';

/*
 * Apart from certificates.ts so that a serving worker, which only presents
 * certificates, never loads the ACME client.
 */

/** The manager for this data dir's certificates, or undefined when ACME is off. */
export function createManagerFor(
  config: ResolvedConfig,
  logger: Logger,
  options: {
    challenges?: ChallengeStore;
    httpPort: number | undefined;
    onCertificate?: (plan: CertificatePlan, stored: StoredCertificate) => void;
    onChecked?: ManagerOptions['onChecked'];
    onRenewalFailed?: ManagerOptions['onRenewalFailed'];
  },
): CertificateManager | undefined {
  if (config.acme.directoryUrl === undefined) return undefined;
  // A second process on the same data dir (the server, another `berth certs --renew`) waits its turn: say so.
  const locker = createFileLocker(join(config.dataDir, 'acme', 'locks'), {
    onWait: (name, holder) => logger.info({ lock: name, pid: holder.pid }, `waiting for the lock ${name}, held by another berth process${holder.pid === undefined ? '' : ` (pid ${holder.pid})`}`),
  });
  let session: Promise<AcmeSession> | undefined;
  return createCertificateManager({
    plans: planCertificates(certificateHolders(config), config.acme.directoryUrl),
    storage: createFileStorage(config.dataDir),
    locker,
    challenges: options.challenges ?? createChallengeStore(config.dataDir),
    session: () => {
      session ??= openAcmeSession(config.acme, { dataDir: config.dataDir, locker, logger }).catch((error: unknown) => {
        session = undefined;
        throw error;
      });
      return session;
    },
    directoryUrl: config.acme.directoryUrl,
    checkIntervalMs: config.acme.checkIntervalMs,
    retryDelayMs: config.acme.retryDelayMs,
    httpPort: options.httpPort,
    logger,
    ...(options.onCertificate === undefined ? {} : { onCertificate: options.onCertificate }),
    ...(options.onChecked === undefined ? {} : { onChecked: options.onChecked }),
    ...(options.onRenewalFailed === undefined ? {} : { onRenewalFailed: options.onRenewalFailed }),
  });
}
