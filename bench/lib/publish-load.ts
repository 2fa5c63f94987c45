/**
 * Publish under load: while clients keep requesting Berth, publish two site
 * versions alternately, 20 times. Every response must be 200, its body must
 * hash to the ETag Berth sent with it, and it must be one of the versions
 * that were published (never a mix of two). Bounded in count and time.
 */
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeSite } from '../site/generate.ts';
import { etagMatchesBody, get, sha256 } from './client.ts';
import { wrkUntilStopped, type LoadResult } from './load.ts';
import { berthPublish, type BenchContext, type Running } from './servers.ts';

export interface PublishLoadOptions {
  publishes: number;
  /** Concurrent checking clients (keep-alive, half over HTTPS). */
  clients: number;
  /** wrk connections hammering /index.html alongside the checkers; 0 for none. */
  wrkConnections: number;
  /** Hard limits. */
  maxSeconds: number;
  maxRequests: number;
  /** Pause after each publish so the checkers see every version. */
  pauseMs: number;
}

export interface PublishLoadResult {
  publishes: number;
  publishesFailed: number;
  publishMsMedian: number;
  publishMsMax: number;
  requests: number;
  /** Not 200, or a network error. */
  failed: number;
  /** 200, but the body does not hash to the ETag or is no published version. */
  mixed: number;
  /**
   * Responses to requests sent after \`berth publish\` had returned (and before
   * the next one started) that still carried an older version, and how long
   * after the publish returned the latest of them was sent.
   */
  staleAfterPublish: number;
  staleMaxLagMs: number;
  /** How often a checker saw the served version of a path change. */
  versionChanges: number;
  /** Versions (by label) that the checkers saw. */
  versionsSeen: string[];
  /** The last published version is what is served at the end. */
  finalVersionServed: boolean;
  wrk?: { requests: number; rps: number; non2xx: number; errors: number; p99Ms?: number };
  seconds: number;
  samples: string[];
}

export async function publishUnderLoad(
  ctx: BenchContext,
  server: Running,
  ca: string,
  initialVariant: string,
  o: PublishLoadOptions,
): Promise<PublishLoadResult> {
  const variants = ['p1', 'p2'];
  // path -> sha256 -> version label
  const known = new Map<string, Map<string, string>>();
  const remember = (variant: string, files: Map<string, Buffer>) => {
    for (const [path, bytes] of files) {
      if (!known.has(path)) known.set(path, new Map());
      known.get(path)?.set(sha256(bytes), variant);
    }
  };
  remember(initialVariant, writeSite(join(ctx.tmp, 'publish', 'initial'), initialVariant).files);
  for (const v of variants) remember(v, writeSite(join(ctx.tmp, 'publish', v), v).files);

  const paths = ['/index.html', '/style.css'];
  const started = Date.now();
  const deadline = started + o.maxSeconds * 1000;
  let stop = false;
  let requests = 0;
  let failed = 0;
  let mixed = 0;
  let versionChanges = 0;
  let staleAfterPublish = 0;
  let staleMaxLagMs = 0;
  // What should be served: bumped when a publish starts and when it ends.
  let generation = 0;
  let publishing = false;
  let expected = initialVariant;
  let expectedSince = Date.now();
  const seen = new Set<string>();
  const samples: string[] = [];
  const note = (s: string) => {
    if (samples.length < 10) samples.push(s);
  };
  const staleSamples: string[] = [];

  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: o.clients });
  const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: o.clients, ca, servername: 'localhost' });

  const checker = async (id: number) => {
    const secure = id % 2 === 1;
    const base = secure ? `https://127.0.0.1:${server.httpsPort}` : `http://127.0.0.1:${server.httpPort}`;
    const last = new Map<string, string>();
    for (let i = 0; !stop && requests < o.maxRequests && Date.now() < deadline; i++) {
      const path = paths[i % paths.length] ?? '/index.html';
      requests++;
      const sentAt = Date.now();
      const sentGeneration = generation;
      const settled = !publishing;
      try {
        const r = await get(base + path, {
          agent: secure ? httpsAgent : httpAgent,
          ca,
          headers: { 'accept-encoding': 'identity' },
          timeoutMs: 10_000,
        });
        if (r.status !== 200) {
          failed++;
          note(`${base}${path}: status ${r.status}`);
          continue;
        }
        const version = known.get(path)?.get(sha256(r.body));
        const etag = r.headers.etag;
        if (!etagMatchesBody(etag, r.body) || version === undefined) {
          mixed++;
          note(`${base}${path}: etag ${etag ?? '(none)'} body sha256 ${sha256(r.body).slice(0, 16)} version ${version ?? 'unknown'}`);
          continue;
        }
        seen.add(version);
        if (settled && sentGeneration === generation && version !== expected) {
          staleAfterPublish++;
          staleMaxLagMs = Math.max(staleMaxLagMs, sentAt - expectedSince);
          if (staleSamples.length < 3) staleSamples.push(`${base}${path}: ${version} sent ${sentAt - expectedSince} ms after publish of ${expected} returned`);
        }
        if (last.has(path) && last.get(path) !== version) versionChanges++;
        last.set(path, version);
      } catch (err) {
        failed++;
        note(`${base}${path}: ${(err as Error).message}`);
      }
    }
  };

  const load = o.wrkConnections > 0
    ? wrkUntilStopped(`http://127.0.0.1:${server.httpPort}/index.html`, {
        threads: 1,
        connections: o.wrkConnections,
        maxSeconds: o.maxSeconds,
      })
    : undefined;
  const checkers = Array.from({ length: o.clients }, (_, i) => checker(i));

  const times: number[] = [];
  let publishesFailed = 0;
  let lastVariant = initialVariant;
  await sleep(300);
  for (let n = 0; n < o.publishes && Date.now() < deadline; n++) {
    const v = variants[n % variants.length] ?? 'p1';
    publishing = true;
    generation++;
    const r = await berthPublish(ctx, server.name, join(ctx.tmp, 'publish', v));
    if (r.code === 0) {
      expected = v;
      expectedSince = Date.now();
    }
    generation++;
    publishing = false;
    times.push(r.ms);
    if (r.code !== 0) {
      publishesFailed++;
      note(`publish ${n + 1} (${v}) exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    } else {
      lastVariant = v;
    }
    await sleep(o.pauseMs);
  }
  await sleep(300);
  stop = true;
  await Promise.all(checkers);
  let wrkResult: LoadResult | undefined;
  if (load) wrkResult = await load.stop();
  httpAgent.destroy();
  httpsAgent.destroy();

  // What is served now must be the last version that was published.
  let finalVersionServed = true;
  // A new connection each time, so that with several workers each is asked.
  for (let i = 0; i < 8; i++) {
    for (const path of paths) {
      const r = await get(`http://127.0.0.1:${server.httpPort}${path}`, { headers: { 'accept-encoding': 'identity', connection: 'close' } });
      if (r.status !== 200 || known.get(path)?.get(sha256(r.body)) !== lastVariant) finalVersionServed = false;
    }
  }

  const sorted = [...times].sort((a, b) => a - b);
  return {
    publishes: times.length,
    publishesFailed,
    publishMsMedian: Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0),
    publishMsMax: Math.round(sorted[sorted.length - 1] ?? 0),
    requests,
    failed,
    mixed,
    staleAfterPublish,
    staleMaxLagMs,
    versionChanges,
    versionsSeen: [...seen].sort(),
    finalVersionServed,
    wrk: wrkResult && {
      requests: wrkResult.requests,
      rps: wrkResult.rps,
      non2xx: wrkResult.non2xx,
      errors: wrkResult.errors,
      p99Ms: wrkResult.p99Ms,
    },
    seconds: (Date.now() - started) / 1000,
    samples: [...samples, ...staleSamples],
  };
}
