import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { getCACertificates } from 'node:tls';
import type { Client } from 'acme-client';
import { BerthError } from '../errors.ts';
import type { ResolvedAcme } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import { writeFileAtomic } from '../tls/atomic-write.ts';
import type { ChallengeStore } from './challenge-store.ts';
import type { Locker } from './file-locker.ts';
import { parseRenewalInfo, renewalInfoId, type RenewalInfo } from './renewal-info.ts';

type AcmeModule = typeof import('acme-client');

/**
 * One conversation with one CA: the account (made once, then reused from
 * `data_dir/acme/<directory>/`), orders, and renewal information. The
 * protocol itself (JWS, nonces, polling) is `acme-client`'s; Berth decides
 * what to order and where it goes.
 */
export interface AcmeSession {
  readonly directoryUrl: string;
  /** Orders one certificate for `names` and returns it with its new key. */
  order(names: readonly string[], options: OrderOptions): Promise<{ cert: string; key: string }>;
  /** The CA's suggested renewal window for a certificate; undefined when the CA offers no ARI. */
  renewalInfo(certPem: string): Promise<RenewalInfo | undefined>;
}

export interface OrderOptions {
  /** ARI id of the certificate this one replaces (RFC 9773 5). */
  replaces?: string;
  challenges: ChallengeStore;
  /** The port Berth's HTTP listener answers on, for error messages. */
  httpPort: number | undefined;
}

export interface SessionOptions {
  dataDir: string;
  locker: Locker;
  logger: Logger;
}

/** Loaded on first use: the library and its dependencies cost memory a server without ACME should not carry. */
let loaded: Promise<AcmeModule> | undefined;

/** Starts loading the library ahead of the first order, while the server is still starting. */
export function preloadAcme(): void {
  void loadAcme().catch(() => undefined);
}

async function loadAcme(): Promise<AcmeModule> {
  loaded ??= import('acme-client').then((module) => (module as { default?: AcmeModule }).default ?? module);
  return loaded;
}

export async function openAcmeSession(settings: ResolvedAcme, options: SessionOptions): Promise<AcmeSession> {
  const directoryUrl = settings.directoryUrl;
  if (directoryUrl === undefined) throw new Error('openAcmeSession called with ACME off');
  const acme = await loadAcme();
  const extraRoots = settings.caFile === undefined ? [] : [await readCaFile(settings.caFile)];
  // The library keeps one HTTP client for the process; one CA per process is all Berth uses. Trusted: what
  // Node trusts by default (its bundled roots, NODE_EXTRA_CA_CERTS, the system store with --use-system-ca),
  // and ca_file. A `ca` list replaces Node's default, so the default is named here.
  acme.axios.defaults.httpsAgent = new Agent({ ca: [...getCACertificates('default'), ...extraRoots], keepAlive: true });
  acme.axios.defaults.timeout = 30_000;
  // Berth retries failed orders with its own backoff. The library's retry
  // sleeps out a CA's Retry-After (hours, for a rate limit) inside the
  // request, holding the certificate lock and a stopping server: none.
  // (Rejected nonces are retried by the library apart from this.)
  const defaults = acme.axios.defaults as typeof acme.axios.defaults & { acmeSettings: { retryMaxAttempts: number; retryDefaultDelay: number } };
  defaults.acmeSettings.retryMaxAttempts = 0;
  keepNetworkErrors(acme);

  const accountDir = join(options.dataDir, 'acme', directoryId(directoryUrl));
  const log = options.logger.child({ acme: directoryUrl });
  let client: Promise<Client> | undefined;

  const openClient = async (): Promise<Client> => {
    const release = await options.locker.lock(`account-${directoryId(directoryUrl)}`);
    try {
      const stored = await readAccount(accountDir);
      const accountKey = stored?.key ?? (await acme.crypto.createPrivateEcdsaKey()).toString();
      const eab = settings.eab === undefined ? undefined : { kid: settings.eab.kid, hmacKey: settings.eab.hmacKey.reveal() };
      const made = new acme.Client({
        directoryUrl,
        accountKey,
        ...(stored?.url === undefined ? {} : { accountUrl: stored.url }),
        ...(eab === undefined ? {} : { externalAccountBinding: eab }),
        // Pebble and Let's Encrypt validate within a second or two; poll soon, then less often.
        backoffMin: 50,
        backoffMax: 5_000,
        backoffAttempts: 16,
      });
      if (stored === undefined) await writeFileAtomic(join(accountDir, 'account.key.pem'), accountKey);
      if (stored?.url === undefined) {
        await made.createAccount({ termsOfServiceAgreed: true, ...(settings.email === undefined ? {} : { contact: [`mailto:${settings.email}`] }) });
        await writeFileAtomic(join(accountDir, 'account.json'), `${JSON.stringify({ url: made.getAccountUrl(), email: settings.email ?? null, created: new Date().toISOString() }, null, 2)}\n`);
        log.info({ account: made.getAccountUrl() }, 'created ACME account');
      } else if ((stored.email ?? undefined) !== settings.email) {
        await made.updateAccount({ contact: settings.email === undefined ? [] : [`mailto:${settings.email}`] });
        await writeFileAtomic(join(accountDir, 'account.json'), `${JSON.stringify({ url: stored.url, email: settings.email ?? null, created: stored.created }, null, 2)}\n`);
        log.info({ account: stored.url }, 'updated the ACME account contact');
      }
      return made;
    } catch (error) {
      throw describeFailure(error, directoryUrl, 'creating the ACME account');
    } finally {
      await release();
    }
  };
  const getClient = (): Promise<Client> => {
    client ??= openClient().catch((error: unknown) => {
      client = undefined;
      throw error;
    });
    return client;
  };

  const directory = async (): Promise<Record<string, unknown>> => {
    // Not in the library's types, but its own way to the cached directory.
    const http = ((await getClient()) as unknown as { api: { http: { getDirectory(): Promise<Record<string, unknown>> } } }).api.http;
    return http.getDirectory();
  };

  return {
    directoryUrl,
    async order(names, { replaces, challenges, httpPort }) {
      const c = await getClient();
      const meta = ((await directory().catch(() => ({}))) as { meta?: { profiles?: Record<string, unknown> } }).meta;
      let profile = settings.profile;
      if (profile !== undefined && meta?.profiles?.[profile] === undefined) {
        log.warn({ profile, offered: Object.keys(meta?.profiles ?? {}) }, 'the CA does not offer this certificate profile; ordering its default');
        profile = undefined;
      }
      const tokens: string[] = [];
      let step = 'placing the order';
      try {
        const request = (withReplaces: boolean): Promise<Awaited<ReturnType<Client['createOrder']>>> =>
          c.createOrder({
            identifiers: names.map((value) => ({ type: 'dns', value })),
            ...(profile === undefined ? {} : { profile }),
            ...(withReplaces && replaces !== undefined ? { replaces } : {}),
          } as Parameters<Client['createOrder']>[0]);
        let order;
        try {
          order = await request(true);
        } catch (error) {
          // A CA refuses `replaces` it will not honour (an earlier replacement
          // order still pending, a certificate it does not know): the renewal
          // must not depend on it, so ask once more without.
          if (replaces === undefined || isNetworkError(error)) throw error;
          log.warn({ err: error, names }, 'the CA refused the order naming the certificate it replaces; ordering without');
          order = await request(false);
        }
        const authorizations = await c.getAuthorizations(order);
        const settled = await Promise.allSettled(
          authorizations.map(async (authz) => {
            if (authz.status === 'valid') return;
            const name = authz.identifier.value;
            const challenge = authz.challenges.find((candidate) => candidate.type === 'http-01');
            if (challenge === undefined) {
              throw new BerthError('E_ACME_CHALLENGE', `The CA offers no HTTP-01 challenge for ${name}; Berth validates only with HTTP-01, so use a CA that offers it`);
            }
            await challenges.put(challenge.token, await c.getChallengeKeyAuthorization(challenge));
            tokens.push(challenge.token);
            try {
              await c.completeChallenge(challenge);
              await c.waitForValidStatus(challenge);
            } catch (error) {
              const detail = error instanceof Error ? error.message : String(error);
              const port = httpPort === undefined ? 'the HTTP listener' : `port ${httpPort} (server.http_port)`;
              throw new BerthError(
                'E_ACME_CHALLENGE',
                `The CA could not validate ${name}: ${detail}; make sure http://${name}/.well-known/acme-challenge/ reaches Berth's HTTP listener on ${port} from the internet (DNS points ${name} at this server, port 80 is open in every firewall and forwarded to it)`,
                { cause: error },
              );
            }
          }),
        );
        // Every authorization has finished (none polls on after the tokens are removed); the first failure is the answer.
        const failed = settled.find((outcome) => outcome.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
        step = 'finalizing the order';
        const [key, csr] = await acme.crypto.createCsr({ altNames: [...names] }, await acme.crypto.createPrivateEcdsaKey());
        const finalized = await c.finalizeOrder(order, csr);
        step = 'downloading the certificate';
        const cert = await c.getCertificate(finalized);
        return { cert, key: key.toString() };
      } catch (error) {
        throw describeFailure(error, directoryUrl, step);
      } finally {
        await Promise.all(tokens.map((token) => challenges.remove(token)));
      }
    },
    async renewalInfo(certPem) {
      let base: unknown;
      try {
        base = (await directory()).renewalInfo;
      } catch (error) {
        throw describeFailure(error, directoryUrl, 'reading the ACME directory');
      }
      if (typeof base !== 'string') return undefined;
      const url = `${base.replace(/\/$/, '')}/${await renewalInfoId(certPem)}`;
      let response;
      try {
        response = await acme.axios.get(url, { validateStatus: () => true, responseType: 'text', transformResponse: (body: unknown) => body });
      } catch (error) {
        throw describeFailure(error, directoryUrl, 'asking for renewal information');
      }
      if (response.status !== 200) {
        throw new BerthError('E_ACME_ORDER', `The CA answered ${response.status} to a renewal information request (${url}); Berth falls back to renewing when a third of the lifetime is left`);
      }
      const retryAfter = response.headers['retry-after'] as string | undefined;
      return parseRenewalInfo(String(response.data), retryAfter, new Date());
    },
  };
}

let networkErrorsKept = false;

/**
 * The library's response interceptor retries a request that got no answer
 * and then reads `response.config` of the missing response, so an
 * unreachable CA surfaces as "Cannot read properties of undefined". An
 * interceptor put in front of it hands such errors on without their request
 * config, which the library passes through untouched: the network error
 * (ECONNREFUSED, a TLS failure) reaches Berth with its code. Berth retries
 * on its own schedule. (`handlers` is axios's public interceptor list.)
 */
function keepNetworkErrors(acme: AcmeModule): void {
  if (networkErrorsKept) return;
  networkErrorsKept = true;
  const interceptors = acme.axios.interceptors.response as unknown as { handlers: Array<Record<string, unknown>> };
  interceptors.handlers.unshift({
    fulfilled: (response: unknown) => response,
    rejected: (error: { response?: unknown; code?: unknown; message?: unknown }) => {
      if (error.response !== undefined && error.response !== null) return Promise.reject(error as Error);
      const bare = new Error(typeof error.message === 'string' ? error.message : 'request failed', { cause: error });
      return Promise.reject(Object.assign(bare, { code: error.code }));
    },
    synchronous: false,
    runWhen: null,
  });
}

/**
 * `acme-v02.api.letsencrypt.org-directory-1a2b3c4d`: one account directory
 * per CA, readable, with a hash of the whole URL so two URLs never share one.
 */
export function directoryId(directoryUrl: string): string {
  const url = new URL(directoryUrl);
  const readable = `${url.host}${url.pathname}`.replace(/[^A-Za-z0-9.]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 100);
  return `${readable}-${createHash('sha256').update(directoryUrl).digest('hex').slice(0, 8)}`;
}

async function readAccount(dir: string): Promise<{ key: string; url: string | undefined; email: string | undefined; created: string | undefined } | undefined> {
  let key: string;
  try {
    key = await readFile(join(dir, 'account.key.pem'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const info = JSON.parse(await readFile(join(dir, 'account.json'), 'utf8')) as { url?: unknown; email?: unknown; created?: unknown };
    return {
      key,
      url: typeof info.url === 'string' ? info.url : undefined,
      email: typeof info.email === 'string' ? info.email : undefined,
      created: typeof info.created === 'string' ? info.created : undefined,
    };
  } catch {
    // The key was saved but the registration did not finish: register the same key again (a CA returns the existing account for a known key).
    return { key, url: undefined, email: undefined, created: undefined };
  }
}

async function readCaFile(file: string): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    return text;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new BerthError('E_ACME_CA_FILE', `Cannot use acme.ca_file ${file}: ${reason}; give a PEM file with the CA's root certificate`, { cause: error });
  }
}

function isNetworkError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (NETWORK_CODES.has(code) || code.startsWith('ERR_TLS') || code.includes('CERT'));
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/** Turns what the library threw into a Berth error that says what was being done and what to check. */
function describeFailure(error: unknown, directoryUrl: string, step: string): BerthError {
  if (error instanceof BerthError) return error;
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string' && isNetworkError(error)) {
    const hint = code.includes('CERT') || code.startsWith('ERR_TLS')
      ? 'its TLS certificate is not trusted; for a private CA set acme.ca_file'
      : 'check acme.directory and that this server can reach it';
    return new BerthError('E_ACME_UNREACHABLE', `Cannot reach the ACME server ${directoryUrl} while ${step} (${code}); ${hint}`, { cause: error });
  }
  return new BerthError('E_ACME_ORDER', `The ACME server ${directoryUrl} refused ${step}: ${message}`, { cause: error });
}
