import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import type { CertificateSource } from '../server/listeners.ts';
import { createCertificateTable, type CertificateTable } from '../tls/certificate-table.ts';
import { ensureStandInCertificates } from '../tls/self-signed-store.ts';
import { loadStaticCertificates } from '../tls/static-certificates.ts';
import { certificateHolders, certificateNames } from '../tls/certificate-holders.ts';
import { planCertificates, type CertificatePlan } from './acme-names.ts';
import { createFileStorage, findCertificateFor, type StoredCertificate } from './certificate-storage.ts';
import { createChallengeStore, type ChallengeStore } from './challenge-store.ts';

/** What a serving process needs for TLS: the SNI table, and the HTTP-01 answers when ACME is on. */
export interface ServingCertificates {
  readonly source: CertificateSource;
  /** Undefined when ACME is off. */
  readonly challenges: ChallengeStore | undefined;
  /** Puts what storage holds now into the SNI table (another process renewed). */
  reload(): Promise<void>;
  /** Puts one new certificate into the table (this process obtained it). */
  install(plan: CertificatePlan, stored: StoredCertificate): void;
}

/**
 * The certificates a serving process presents. With ACME on: every stored
 * certificate at once (a restart orders nothing), a self-signed one for the
 * names still waiting, and the table the manager swaps new ones into.
 */
export async function openServingCertificates(config: ResolvedConfig, logger: Logger): Promise<ServingCertificates> {
  if (config.acme.directoryUrl === undefined) {
    return { source: await loadStaticCertificates(config), challenges: undefined, reload: async () => undefined, install: () => undefined };
  }
  const table = createCertificateTable(await ensureStandInCertificates(config.dataDir, certificateNames(config)));
  const storage = createFileStorage(config.dataDir);
  const plans = planCertificates(certificateHolders(config), config.acme.directoryUrl);
  const install = (plan: CertificatePlan, stored: StoredCertificate, into: CertificateTable = table): void => {
    // Until a certificate for changed names arrives, the old one still serves the names it has.
    const names = plan.names.filter((name) => stored.info.names.includes(name));
    into.install(names, { cert: stored.cert, key: stored.key }, stored.info.serial);
  };
  const reload = async (): Promise<void> => {
    const now = new Date();
    for (const plan of plans) {
      try {
        // A site whose first domain changed has nothing under its key yet: serve what another certificate has for its names.
        const stored = (await storage.load(plan.key)) ?? (await findCertificateFor(storage, plan.names, now));
        if (stored !== undefined && stored.info.notAfter > now && !plan.names.every((name) => table.serialFor(name) === stored.info.serial)) install(plan, stored);
      } catch (error) {
        logger.error({ err: error, names: plan.names }, 'cannot read a stored certificate; serving what was loaded before');
      }
    }
  };
  await reload();
  return { source: table, challenges: createChallengeStore(config.dataDir), reload, install: (plan, stored) => install(plan, stored) };
}
