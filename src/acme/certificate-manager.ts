import type { Logger } from '../log/logger.ts';
import { BerthError } from '../errors.ts';
import type { AcmeSession } from './acme-session.ts';
import type { CertificatePlan } from './acme-names.ts';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { certificateInfo, findCertificateFor, type CertificateInfo, type CertificateStorage, type RenewalState, type StoredCertificate } from './certificate-storage.ts';
import type { ChallengeStore } from './challenge-store.ts';
import type { Locker } from './file-locker.ts';
import { renewalInfoId } from './renewal-info.ts';
import { checkDelay, expiryUrgency, formatSpan, renewalTime, retryDelay } from './renewal-schedule.ts';

/**
 * Keeps one certificate per site valid, for as long as the server runs:
 * obtains what is missing at start, renews inside the CA's ARI window (or
 * when a third of the lifetime is left), retries failures with a growing
 * wait, and hands every new certificate to `onCertificate` (the SNI table).
 * A failure never touches the certificate being served.
 */
export interface CertificateManager {
  /** Checks every certificate now; later checks run on timers. */
  start(): void;
  /** Stops the timers and waits (briefly) for checks in flight. */
  stop(): Promise<void>;
  /**
   * Renews the certificate that holds `name` now, whatever its dates. When
   * another process renewed it after `since`, that one is kept instead.
   */
  renew(name: string, since: Date): Promise<StoredCertificate>;
}

export interface ManagerOptions {
  plans: readonly CertificatePlan[];
  storage: CertificateStorage;
  locker: Locker;
  challenges: ChallengeStore;
  /** Opened on first need: a server whose certificates are all valid never talks to the CA at start. */
  session: () => Promise<AcmeSession>;
  /** The CA in use; a certificate from another one is replaced. */
  directoryUrl: string;
  checkIntervalMs: number;
  retryDelayMs: number;
  httpPort: number | undefined;
  logger: Logger;
  onCertificate?: (plan: CertificatePlan, stored: StoredCertificate) => void;
  /** After each check: the valid certificate served for the plan's names, if any (for expiry notices). */
  onChecked?: (plan: CertificatePlan, served: StoredCertificate | undefined) => void;
  /** An order that failed, with the still-valid certificate served meanwhile, if any. */
  onRenewalFailed?: (plan: CertificatePlan, failure: RenewalFailure) => void;
  now?: () => Date;
  random?: () => number;
}

export interface RenewalFailure {
  code: string;
  message: string;
  /** Failures in a row, this one included. */
  attempt: number;
  serving: StoredCertificate | undefined;
}

const STOP_WAIT_MS = 5_000;

export function createCertificateManager(options: ManagerOptions): CertificateManager {
  const { storage, locker, logger } = options;
  const now = options.now ?? ((): Date => new Date());
  const random = options.random ?? Math.random;
  const log = logger.child({ kind: 'certificates' });
  const timers = new Map<string, NodeJS.Timeout>();
  const running = new Set<Promise<unknown>>();
  const installed = new Map<string, string>();
  let stopped = false;

  const install = (plan: CertificatePlan, stored: StoredCertificate): void => {
    if (installed.get(plan.key) === stored.info.serial) return;
    installed.set(plan.key, stored.info.serial);
    options.onCertificate?.(plan, stored);
  };

  const schedule = (plan: CertificatePlan, delayMs: number): void => {
    if (stopped) return;
    clearTimeout(timers.get(plan.key));
    // Node's timers cap at about 24.8 days; a check at least daily is wanted anyway.
    const timer = setTimeout(() => track(check(plan)), Math.max(0, Math.min(delayMs, 86_400_000)));
    timer.unref();
    timers.set(plan.key, timer);
  };

  const track = (work: Promise<unknown>): void => {
    running.add(work);
    void work.finally(() => running.delete(work));
  };

  /**
   * Whether a stored certificate serves this plan as it is: not expired,
   * every configured name on it, ordered for exactly these names (a CA may
   * add names of its own; a name removed from the config is a reason to
   * order anew), and from the CA in use.
   */
  const usable = (plan: CertificatePlan, stored: StoredCertificate | undefined, state: RenewalState, at: Date): boolean =>
    stored !== undefined &&
    stored.info.notAfter > at &&
    plan.names.every((name) => stored.info.names.includes(name)) &&
    sameNames(state.names ?? stored.info.names, plan.names) &&
    !fromOtherCa(state);

  const fromOtherCa = (state: RenewalState): boolean => state.directoryUrl !== undefined && state.directoryUrl !== options.directoryUrl;

  /** When this process last obtained each certificate: a new one that is due at once must not start a loop of orders. */
  const lastObtained = new Map<string, number>();

  /** When the stored certificate is due, asking the CA's ARI when it is time to ask. */
  async function dueAt(stored: StoredCertificate, state: RenewalState, at: Date): Promise<Date> {
    // A window belongs to one certificate.
    const ari = state.ari?.serial === stored.info.serial ? state.ari : undefined;
    if (ari !== undefined && new Date(ari.fetchAfter) > at) return new Date(ari.chosen);
    try {
      const info = await (await options.session()).renewalInfo(stored.cert);
      if (info === undefined) {
        state.ari = undefined;
        return renewalTime(stored.info, undefined, random);
      }
      // A new window gets a new random moment; the same window keeps the one chosen.
      const same = ari !== undefined && ari.start === info.start.toISOString() && ari.end === info.end.toISOString();
      const chosen = same ? new Date(ari.chosen) : renewalTime(stored.info, info, random);
      state.ari = {
        serial: stored.info.serial,
        start: info.start.toISOString(),
        end: info.end.toISOString(),
        chosen: chosen.toISOString(),
        fetchAfter: info.fetchAfter.toISOString(),
        ...(info.explanationUrl === undefined ? {} : { explanationUrl: info.explanationUrl }),
      };
      if (info.explanationUrl !== undefined && chosen <= at) log.warn({ names: stored.info.names, explanation: info.explanationUrl }, 'the CA asks for an early renewal');
      return chosen;
    } catch (error) {
      // No answer from the CA about the window: the lifetime rule still holds.
      log.debug({ err: error }, 'no renewal information; using a third of the lifetime');
      return ari === undefined ? renewalTime(stored.info, undefined, random) : new Date(ari.chosen);
    }
  }

  /** Runs a caller's callback; one that throws must not stop a certificate's checks and renewals. */
  function tell(which: string, callback: () => void): void {
    try {
      callback();
    } catch (error) {
      log.warn({ err: error }, `the ${which} callback failed; certificates are checked and renewed as before`);
    }
  }

  async function check(plan: CertificatePlan): Promise<void> {
    if (stopped) return;
    const at = now();
    let stored: StoredCertificate | undefined;
    let state: RenewalState;
    try {
      stored = await storage.load(plan.key);
      state = await storage.loadState(plan.key);
    } catch (error) {
      log.error({ err: error, names: plan.names }, 'cannot read the stored certificate; trying again later');
      schedule(plan, checkDelay(options.checkIntervalMs, random));
      return;
    }
    let served: StoredCertificate | undefined;
    if (stored !== undefined && stored.info.notAfter > at) served = stored;
    else {
      // Nothing under this site's key (its first domain changed, say): serve
      // what another stored certificate has for its names until the new one comes.
      served = await findCertificateFor(storage, plan.names, at).catch(() => undefined);
    }
    if (served !== undefined) install(plan, served);
    tell('onChecked', () => options.onChecked?.(plan, served));
    let reason: string;
    if (stored !== undefined && usable(plan, stored, state, at)) {
      const due = await dueAt(stored, state, at);
      if (due > at) {
        const wait = Math.min(due.getTime() - at.getTime(), checkDelay(options.checkIntervalMs, random));
        await saveState(plan, { ...state, names: [...plan.names], lastCheck: at.toISOString(), nextCheck: new Date(at.getTime() + wait).toISOString() });
        schedule(plan, wait);
        return;
      }
      reason = 'renewal is due';
    } else if (stored === undefined) reason = 'no certificate yet';
    else if (stored.info.notAfter <= at) reason = 'the certificate has expired';
    else if (fromOtherCa(state)) reason = `the certificate is from another CA (${state.directoryUrl ?? ''})`;
    else reason = 'the configured names changed';
    // After failures, wait out the backoff, also across a restart. Without a
    // usable certificate a restart waits at most retry_delay: someone may have
    // just fixed DNS, but a crash loop must not hammer the CA.
    const retryAt = (state.failures ?? 0) > 0 && state.nextCheck !== undefined && !fromOtherCa(state) && sameNames(state.names ?? [], plan.names) ? Date.parse(state.nextCheck) : Number.NaN;
    if (retryAt > at.getTime()) {
      const wait = retryAt - at.getTime();
      schedule(plan, usable(plan, stored, state, at) ? wait : Math.min(wait, options.retryDelayMs));
      return;
    }
    await obtain(plan, stored, state, reason, undefined).catch(() => undefined);
  }

  async function saveState(plan: CertificatePlan, state: RenewalState): Promise<void> {
    try {
      await storage.saveState(plan.key, state);
    } catch (error) {
      log.warn({ err: error, names: plan.names }, 'cannot save the renewal state');
    }
  }

  /** Orders under the lock; resolves with the certificate in storage afterwards. */
  async function obtain(plan: CertificatePlan, before: StoredCertificate | undefined, state: RenewalState, reason: string, since: Date | undefined): Promise<StoredCertificate> {
    const started = performance.now();
    let release: (() => Promise<void>) | undefined;
    let latest = state;
    try {
      const previous = lastObtained.get(plan.key);
      if (since === undefined && previous !== undefined && Date.now() - previous < options.retryDelayMs) {
        throw new BerthError('E_ACME_ORDER', `The certificate obtained for ${plan.names.join(', ')} moments ago cannot be used as it is (${reason}); not ordering again right away`);
      }
      release = await locker.lock(plan.key);
      if (stopped) throw new StoppedError();
      // Another process may have done the work while this one waited.
      const again = await storage.load(plan.key);
      latest = await storage.loadState(plan.key);
      const at = now();
      if (again !== undefined && usable(plan, again, latest, at) && (again.info.serial !== before?.info.serial || since !== undefined)) {
        const fresh = since === undefined ? (await dueAt(again, latest, at)) > at : latest.obtainedAt !== undefined && new Date(latest.obtainedAt) >= since;
        if (fresh) {
          install(plan, again);
          if (since === undefined) schedule(plan, checkDelay(options.checkIntervalMs, random));
          log.info({ names: plan.names, serial: again.info.serial }, 'another berth process obtained this certificate; using it');
          return again;
        }
      }
      const current = again ?? before;
      log.info({ names: plan.names, reason }, 'ordering a certificate');
      const session = await options.session();
      // `replaces` names a certificate of this CA whose renewal window it gave (RFC 9773 5).
      const replaceable = current !== undefined && latest.ari?.serial === current.info.serial && latest.directoryUrl === options.directoryUrl;
      const replaces = replaceable ? await renewalInfoId(current.cert).catch(() => undefined) : undefined;
      const pair = await session.order(plan.names, { challenges: options.challenges, httpPort: options.httpPort, ...(replaces === undefined ? {} : { replaces }) });
      const issued = checkIssued(pair, plan);
      await storage.save(plan.key, pair);
      const obtainedAt = now();
      lastObtained.set(plan.key, Date.now());
      await saveState(plan, {
        names: [...plan.names],
        directoryUrl: options.directoryUrl,
        obtainedAt: obtainedAt.toISOString(),
        lastCheck: obtainedAt.toISOString(),
        nextCheck: new Date(obtainedAt.getTime() + options.checkIntervalMs).toISOString(),
        failures: 0,
      });
      const saved: StoredCertificate = { ...pair, info: issued };
      install(plan, saved);
      log.info(
        { names: plan.names, serial: saved.info.serial, issuer: saved.info.issuer, notAfter: saved.info.notAfter.toISOString(), ms: Math.round(performance.now() - started) },
        'obtained a certificate',
      );
      if (since === undefined) track(check(plan));
      return saved;
    } catch (error) {
      if (error instanceof StoppedError || stopped) {
        log.info({ names: plan.names }, 'stopped while ordering a certificate; the next start goes on');
        throw error;
      }
      const failures = (latest.failures ?? 0) + 1;
      const wait = retryDelay(failures, options.retryDelayMs, random);
      const at = now();
      const code = error instanceof BerthError ? error.code : 'E_ACME_ORDER';
      const message = error instanceof Error ? error.message : String(error);
      await saveState(plan, {
        ...latest,
        names: [...plan.names],
        lastCheck: at.toISOString(),
        nextCheck: new Date(at.getTime() + wait).toISOString(),
        failures,
        lastError: { code, message, at: at.toISOString() },
      });
      const serving = before !== undefined && before.info.notAfter > at ? before : undefined;
      const urgency = serving === undefined ? 'error' : (expiryUrgency(serving.info, at) ?? 'warn');
      const left = serving === undefined ? 'no valid certificate is served for these names (a self-signed one stands in)' : `the current certificate expires in ${formatSpan(serving.info.notAfter.getTime() - at.getTime())} (${serving.info.notAfter.toISOString()})`;
      const next = since === undefined ? `; trying again in ${formatSpan(wait)}` : '';
      log[urgency]({ names: plan.names, code, attempt: failures, retryIn: formatSpan(wait) }, `${message}; ${left}${next}`);
      if (since === undefined) schedule(plan, wait);
      tell('onRenewalFailed', () => options.onRenewalFailed?.(plan, { code, message, attempt: failures, serving }));
      throw error;
    } finally {
      await release?.();
    }
  }

  return {
    start() {
      for (const plan of options.plans) track(check(plan));
    },
    async stop() {
      stopped = true;
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      const wait = new Promise<void>((resolve) => setTimeout(resolve, STOP_WAIT_MS).unref());
      await Promise.race([Promise.allSettled([...running]), wait]);
    },
    async renew(name, since) {
      const lower = name.toLowerCase();
      const plan = options.plans.find((candidate) => candidate.names.includes(lower));
      if (plan === undefined) {
        const known = options.plans.flatMap((candidate) => candidate.names);
        throw new BerthError('E_CERT_UNKNOWN_NAME', `No site has the domain ${JSON.stringify(name)} with a certificate from ACME; use one of: ${known.length === 0 ? '(none)' : known.join(', ')}`);
      }
      const stored = await storage.load(plan.key);
      const state = await storage.loadState(plan.key);
      return obtain(plan, stored, state, 'renewal was asked for', since);
    },
  };
}

class StoppedError extends Error {
  constructor() {
    super('The certificate manager was stopped');
  }
}

/**
 * What the CA returned, checked before it replaces anything in storage: a
 * certificate that parses, whose key is the one generated for it, valid now,
 * with every name asked for.
 */
function checkIssued(pair: { cert: string; key: string }, plan: CertificatePlan): CertificateInfo {
  let info: CertificateInfo;
  try {
    info = certificateInfo(pair.cert);
    if (!new X509Certificate(pair.cert).checkPrivateKey(createPrivateKey(pair.key))) throw new Error('its key is not the one generated for it');
  } catch (error) {
    throw new BerthError('E_ACME_ORDER', `The CA returned a certificate for ${plan.names.join(', ')} that cannot be used (${error instanceof Error ? error.message : String(error)}); it was not stored`, { cause: error });
  }
  const missing = plan.names.filter((name) => !info.names.includes(name));
  if (missing.length > 0) throw new BerthError('E_ACME_ORDER', `The CA returned a certificate without ${missing.join(', ')}; it was not stored`);
  return info;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return set.size === new Set(b).size && b.every((name) => set.has(name));
}
