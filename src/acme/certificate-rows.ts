import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import { planCertificates, skipReason } from './acme-names.ts';
import { certificateHolders } from '../tls/certificate-holders.ts';
import { certificateInfo, createFileStorage, type CertificateInfo, type RenewalState } from './certificate-storage.ts';

/** One configured name and the certificate it is served with: what `berth certs` lists and the API's certificates are made of. */
export interface NameRow {
  name: string;
  site: string;
  /** `acme`, `files` (server.tls) or `self-signed`. */
  source: 'acme' | 'files' | 'self-signed';
  issuer: string | undefined;
  notBefore: string | undefined;
  notAfter: string | undefined;
  nextCheck: string | undefined;
  lastError: RenewalState['lastError'];
  note: string | undefined;
}

/** Every configured name, site by site, with its certificate's issuer, dates, next check and last error. */
export async function describeNames(config: ResolvedConfig): Promise<NameRow[]> {
  const storage = createFileStorage(config.dataDir);
  const holders = certificateHolders(config);
  const plans = planCertificates(holders, config.acme.directoryUrl);
  const fallback = await readInfo(config.server.tls.certFile ?? join(config.dataDir, 'certs', 'self-signed', 'cert.pem'));
  const fallbackSource = config.server.tls.certFile === undefined ? 'self-signed' : 'files';
  const rows: NameRow[] = [];
  for (const site of holders) {
    const plan = config.acme.directoryUrl === undefined ? undefined : plans.find((candidate) => candidate.site === site.name);
    const stored = plan === undefined ? undefined : await storage.load(plan.key);
    const state = plan === undefined ? {} : await storage.loadState(plan.key);
    for (const name of site.domains) {
      if (plan?.names.includes(name) === true) {
        const covered = stored !== undefined && stored.info.names.includes(name) && stored.info.notAfter.getTime() > Date.now();
        rows.push({
          name,
          site: site.name,
          source: covered ? 'acme' : 'self-signed',
          issuer: covered ? stored.info.issuer : undefined,
          notBefore: covered ? stored.info.notBefore.toISOString() : undefined,
          notAfter: covered ? stored.info.notAfter.toISOString() : undefined,
          nextCheck: state.nextCheck,
          lastError: state.lastError,
          note: covered ? undefined : 'waiting for the first certificate (self-signed until then)',
        });
      } else {
        rows.push({
          name,
          site: site.name,
          source: fallbackSource,
          issuer: fallbackSource === 'self-signed' ? 'Berth self-signed' : fallback?.issuer,
          notBefore: fallback?.notBefore.toISOString(),
          notAfter: fallback?.notAfter.toISOString(),
          nextCheck: undefined,
          lastError: undefined,
          note: skippedNote(name, config, fallbackSource),
        });
      }
    }
  }
  return rows;
}

/** Why a name is served without a certificate from ACME, for the table: the name is skipped, and why. */
function skippedNote(name: string, config: ResolvedConfig, source: NameRow['source']): string {
  if (config.acme.directoryUrl === undefined) return source === 'files' ? 'from server.tls' : 'self-signed (ACME is off)';
  const reason = skipReason(name, config.acme.directoryUrl) ?? 'not ordered';
  return `${source === 'files' ? 'from server.tls' : 'self-signed'}; not ordered from ACME: ${reason}`;
}

async function readInfo(file: string): Promise<CertificateInfo | undefined> {
  try {
    return certificateInfo(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}

