/**
 * Push webhooks as a forge sends them: the generic format Berth documents
 * (docs/webhooks.md) and GitHub's push event, each signed with HMAC-SHA256,
 * sent one at a time or as a rate-limited flood.
 */
import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface HookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface HookReply {
  /** 0 when the request failed before an answer (see `error`). */
  status: number;
  /** From just before the request was written to the end of the answer. */
  ms: number;
  body: string;
  error?: string;
}

function hmacHex(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** Berth's generic format: `{ref, sha, delivery}` and `X-Berth-Signature: sha256=<hex>`. */
export function genericPush(url: string, secret: string, o: { sha: string; delivery: string; message?: string }): HookRequest {
  const body = JSON.stringify({ ref: 'refs/heads/main', sha: o.sha, delivery: o.delivery, message: o.message ?? 'bench push' });
  return { url, body, headers: { 'content-type': 'application/json', 'x-berth-signature': `sha256=${hmacHex(secret, body)}` } };
}

/**
 * GitHub's push event, trimmed to the fields receivers read but shaped like
 * the real one (about 1.5 KB), signed the way GitHub signs it.
 */
export function githubPush(url: string, secret: string, o: { sha: string; before: string; delivery?: string; message?: string; n?: number }): HookRequest {
  const repo = { id: 1, name: 'site', full_name: 'bench/site', private: false, clone_url: 'https://git.invalid/bench/site.git', default_branch: 'main' };
  const author = { name: 'Berth Bench', email: 'bench@berth.invalid', username: 'bench' };
  const commit = {
    id: o.sha,
    tree_id: o.sha,
    distinct: true,
    message: o.message ?? `flood push ${o.n ?? 0}`,
    timestamp: '2026-11-27T09:00:00Z',
    url: `https://git.invalid/bench/site/commit/${o.sha}`,
    author,
    committer: author,
    added: [],
    removed: [],
    modified: ['index.html'],
  };
  const body = JSON.stringify({
    ref: 'refs/heads/main',
    before: o.before,
    after: o.sha,
    created: false,
    deleted: false,
    forced: false,
    base_ref: null,
    compare: `https://git.invalid/bench/site/compare/${o.before.slice(0, 12)}...${o.sha.slice(0, 12)}`,
    commits: [commit],
    head_commit: commit,
    repository: repo,
    pusher: { name: 'bench', email: 'bench@berth.invalid' },
    sender: { login: 'bench', id: 1, type: 'User' },
  });
  return {
    url,
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/bench',
      'x-github-event': 'push',
      'x-github-delivery': o.delivery ?? randomUUID(),
      'x-hub-signature-256': `sha256=${hmacHex(secret, body)}`,
    },
  };
}

/** One POST on a new connection, as a forge sends each delivery. */
export function post(req: HookRequest, timeoutMs = 30_000): Promise<HookReply> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Omit<HookReply, 'ms'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...r, ms: performance.now() - started });
    };
    const u = new URL(req.url);
    const r = http.request(
      u,
      { method: 'POST', agent: false, headers: { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (text.length < 4096) text += d;
        });
        res.on('end', () => done({ status: res.statusCode ?? 0, body: text }));
        res.on('error', (err) => done({ status: 0, body: text, error: err.message }));
      },
    );
    r.setTimeout(timeoutMs, () => r.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    r.on('error', (err) => done({ status: 0, body: '', error: err.message }));
    r.end(req.body);
  });
}

export interface FloodOptions {
  /** Requests started per second (open loop: not waiting for answers). */
  ratePerSecond: number;
  /** Answers outstanding at most; past it the sender waits (and the run notes it). */
  maxInFlight: number;
  timeoutMs: number;
  /** Called just before request `i` is sent: where the harness moves the branch the push reports. */
  beforeSend?: (i: number) => void;
}

export interface FloodResult {
  requests: number;
  /** Status code (or "error") -> count. */
  statuses: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Wall-clock ms (Date.now) when the first request was started and the last answer came. */
  startedAtMs: number;
  lastSentAtMs: number;
  finishedAtMs: number;
  /** Seconds from the first request started to the last one started. */
  sendSeconds: number;
  /** Times the sender had to wait because `maxInFlight` answers were outstanding. */
  throttled: number;
  /** A few distinct error messages. */
  errors: string[];
  /** The answers' bodies, by status, one example each. */
  examples: Record<string, string>;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] as number;
}

/** Sends every request at `ratePerSecond`, bounded by count, in-flight answers and time. */
export async function flood(requests: HookRequest[], o: FloodOptions): Promise<FloodResult> {
  const replies: HookReply[] = [];
  const inFlight = new Set<Promise<void>>();
  const interval = 1000 / o.ratePerSecond;
  let throttled = 0;
  const startedAtMs = Date.now();
  const t0 = performance.now();
  let lastSentAtMs = startedAtMs;
  for (const [i, req] of requests.entries()) {
    const wait = t0 + i * interval - performance.now();
    if (wait > 0) await sleep(wait);
    if (inFlight.size >= o.maxInFlight) {
      throttled++;
      while (inFlight.size >= o.maxInFlight) await Promise.race(inFlight);
    }
    o.beforeSend?.(i);
    lastSentAtMs = Date.now();
    const p: Promise<void> = post(req, o.timeoutMs).then((r) => {
      replies.push(r);
      inFlight.delete(p);
    });
    inFlight.add(p);
  }
  const sendSeconds = (performance.now() - t0) / 1000;
  await Promise.all(inFlight);
  const finishedAtMs = Date.now();
  const statuses: Record<string, number> = {};
  const examples: Record<string, string> = {};
  const errors = new Set<string>();
  for (const r of replies) {
    const key = r.status === 0 ? 'error' : String(r.status);
    statuses[key] = (statuses[key] ?? 0) + 1;
    examples[key] ??= r.error ?? r.body.trim().slice(0, 300);
    if (r.error && errors.size < 5) errors.add(r.error);
  }
  const ms = replies.map((r) => r.ms).sort((a, b) => a - b);
  return {
    requests: replies.length,
    statuses,
    p50Ms: percentile(ms, 50),
    p99Ms: percentile(ms, 99),
    maxMs: ms.at(-1) ?? Number.NaN,
    startedAtMs,
    lastSentAtMs,
    finishedAtMs,
    sendSeconds,
    throttled,
    errors: [...errors],
    examples,
  };
}
