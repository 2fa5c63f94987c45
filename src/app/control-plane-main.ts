import { createLogger, flushLogger, logFormatFromEnv } from '../log/logger.ts';
import { createManagerFor } from '../acme/certificate-manager-for.ts';
import { preloadAcme } from '../acme/acme-session.ts';
import { startControlPlane, type ControlPlane } from '../deploy/control-plane.ts';
import { failStart, receiveStart, untilStopped } from './child-start.ts';
import { messageOf, type CertificatesMessage, type IdleMessage, type MetricsSnapshotMessage, type ReadyMessage } from './ipc-messages.ts';
import { DeployMetrics } from '../deploy/deploy-metrics.ts';
import { CertificateMetrics } from '../acme/certificate-metrics.ts';
import { createFileStorage } from '../acme/certificate-storage.ts';
import type { MetricsSnapshot } from '../metrics/metrics-snapshot.ts';
import { answerPushesOverIpc } from './push-relay.ts';
import { answerDeployRequestsOverIpc } from './deploy-request-relay.ts';
import { BerthError, isBerthError } from '../errors.ts';
import { DEPLOY_NICE, lowerOwnPriority } from '../process/priority.ts';
import { confirmServedOverIpc } from './confirm-served.ts';
import { startAdmin } from '../admin/start-admin.ts';

/**
 * The control plane of `berth serve`: the deploy queue, git, builds,
 * publishing, the state database, recovery of interrupted deploys, and the
 * ACME manager. It serves no request; verified webhook pushes reach it from
 * the workers through the supervisor.
 */
const stopped = untilStopped();
// First, so that every thread and child process (git, builds) started later inherits it.
const lowered = lowerOwnPriority(DEPLOY_NICE);
const { config, message } = await receiveStart('control plane');
const logger = createLogger({ level: config.log.level, format: logFormatFromEnv(process.env) }).child({ controlPlane: process.pid });
if (!lowered) logger.warn(`the system refused nice ${DEPLOY_NICE} for the control plane: deploys compete with serving for the CPU at equal priority`);

let control: ControlPlane | undefined;
// With [metrics] on: deploys and certificates are counted here, and sent to the supervisor on a scrape.
const counting = config.metrics.listen !== undefined;
const deployMetrics = counting ? new DeployMetrics(() => control?.deployer.queueDepth() ?? 0) : undefined;
const certificateMetrics = counting ? new CertificateMetrics(createFileStorage(config.dataDir)) : undefined;
try {
  // The supervisor holds the data dir lock for the whole of `berth serve`;
  // a deploy is live once every serving worker answers with its release.
  control = await startControlPlane(config, logger, {
    lockDataDir: false,
    confirmServed: confirmServedOverIpc(),
    ...(deployMetrics === undefined ? {} : { onDeploy: deployMetrics.listener }),
  });
} catch (error) {
  // A state database that cannot be opened, for instance, fails the same way on every restart.
  if (isBerthError(error)) {
    await flushLogger(logger);
    failStart('control plane', error.message, error.code);
  }
  throw error;
}
const running = control;
if (deployMetrics !== undefined) {
  for (const site of config.sites) for (const record of running.store.listDeploys({ site: site.name, states: ['live'], limit: 1 })) deployMetrics.remember(record);
}
// After it has said `idle` to a reload, this process takes no more deploys: they go to its replacement.
let retiring = false;
const stopAnswering = answerPushesOverIpc((event) => running.deployer.receivePush(event), () => !retiring);
// A post-receive hook's deploy, handed over on deploy.sock: the exact commit pushed, as `berth deploy --sha` deploys it.
const stopTakingDeploys = answerDeployRequestsOverIpc(({ site, ref, sha }) => {
  if (!config.sites.some((candidate) => candidate.name === site)) {
    throw new BerthError('E_SITE_UNKNOWN', `No site named ${JSON.stringify(site)} in ${config.configPath}; configured: ${config.sites.map((candidate) => candidate.name).join(', ')}`);
  }
  const lock = running.store.siteLock(site);
  if (lock !== undefined) {
    throw new BerthError('E_DEPLOYS_LOCKED', `Deploys of ${site} are locked by ${lock.by} since ${lock.at}; the push is kept in the repository and deploys once the site is unlocked in the dashboard and pushed again`);
  }
  return running.deployer.submit({ site, trigger: 'hook', ref, ...(sha === undefined ? {} : { sha }) }).id;
}, () => !retiring);
// [admin] domain: the dashboard and the API, forwarded here by the workers.
const admin = config.admin.domain === undefined ? undefined : await startAdmin(config, running, logger);
if (config.acme.directoryUrl !== undefined) preloadAcme();
// Certificates are ordered here, once; the CA's challenge requests reach a
// worker on the HTTP port, which reads the answer from the challenge files.
const notices = running.notices;
const manager = createManagerFor(config, logger, {
  httpPort: message.httpPort,
  onCertificate: (plan, stored) => {
    certificateMetrics?.obtained(plan, stored);
    if (process.connected) process.send?.({ berth: 'certs' } satisfies CertificatesMessage);
  },
  // [[notify]]: a certificate about to expire, an order that failed; and the metrics.
  onChecked: (plan, served) => {
    certificateMetrics?.checked(plan, served);
    notices?.certificateChecked(plan, served);
  },
  onRenewalFailed: (plan, failure) => {
    certificateMetrics?.failed(plan);
    notices?.renewalFailed(plan, failure);
  },
});
manager?.start();
// A reload swaps this process for one with the new config between deploys, not in the middle of one.
process.on('message', (message: unknown) => {
  const scrape = messageOf(message, 'metrics');
  if (scrape !== undefined) {
    void controlSnapshot().then((snapshot) => {
      if (process.connected) process.send?.({ berth: 'metrics-snapshot', id: String(scrape.id), snapshot } satisfies MetricsSnapshotMessage);
    });
    return;
  }
  if (messageOf(message, 'retire') === undefined) return;
  void running.deployer.idle().then(() => {
    retiring = true;
    if (process.connected) process.send?.({ berth: 'idle' } satisfies IdleMessage);
  });
});
/** What this process counted (nothing with metrics off). */
async function controlSnapshot(): Promise<MetricsSnapshot> {
  const deploys = deployMetrics?.snapshot() ?? { samples: [], histograms: [] };
  const certificates = (await certificateMetrics?.snapshot().catch(() => undefined)) ?? { samples: [], histograms: [] };
  return { samples: [...deploys.samples, ...certificates.samples], histograms: [...deploys.histograms, ...certificates.histograms] };
}
process.send?.({ berth: 'ready' } satisfies ReadyMessage);
logger.info('control plane ready');

const why = await stopped;
if (why === 'supervisor gone') {
  // Killed with it, in effect: a new `berth serve` takes the data dir lock
  // the dead supervisor held, and must not find this control plane still
  // running deploys beside its own. It records a deploy this one had under
  // way as interrupted and kills what its build left, as after a crash.
  logger.error('the supervisor is gone; the control plane stops at once');
  await flushLogger(logger);
  process.exit(1);
}
logger.info({ signal: why }, 'control plane stopping; waiting for deploys to end');
await manager?.stop();
await admin?.close();
stopAnswering();
stopTakingDeploys();
await running.stop();
logger.info('stopped');
await flushLogger(logger);
if (process.connected) process.disconnect();
process.exit(0);
