/**
 * An open-loop HTTP load generator, run as a child process of the latency
 * benchmark so its timing is not disturbed by what the benchmark itself
 * does meanwhile. Requests are scheduled at a fixed rate whatever the server
 * does: request k is due at start + k / rate, and its latency is measured
 * from that due time, not from when it was sent. A server that stalls
 * therefore shows the whole stall in every request that was due during it
 * (a closed-loop client such as wrk waits for an answer before sending the
 * next request and hides them: coordinated omission).
 *
 * Started with fork(); settings in the BENCH_OPEN_LOOP environment variable
 * (JSON); runs until the parent sends 'stop' or `maxSeconds` pass, waits up
 * to `drainSeconds` for answers in flight, then sends one message with the
 * results and exits.
 */
import http from 'node:http';

export interface OpenLoopSettings {
  url: string;
  /** The Host header to send (the site's name), when not the URL's. */
  host?: string;
  /** Requests per second. */
  rate: number;
  /** Keep-alive connections at most; a request due while all are busy waits (and that wait counts). */
  connections: number;
  maxSeconds: number;
  drainSeconds: number;
}

export interface OpenLoopResult {
  /** Wall-clock time (ms since the epoch) of the schedule's start. */
  startedAtMs: number;
  /** Each request's due time (ms after the start) and latency from then (ms); unanswered ones are not here. */
  dueMs: number[];
  latencyMs: number[];
  sent: number;
  /** Answers other than 200, and requests that failed or were still unanswered at the end. */
  non200: number;
  failed: number;
  unanswered: number;
  /** How far the send loop itself fell behind the schedule at worst, ms (the client's own hiccups). */
  maxSendLagMs: number;
}

function main(): void {
  const o = JSON.parse(process.env.BENCH_OPEN_LOOP ?? '{}') as OpenLoopSettings;
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
  const url = new URL(o.url);
  const t0 = performance.now();
  const startedAtMs = Date.now();
  const result: OpenLoopResult = { startedAtMs, dueMs: [], latencyMs: [], sent: 0, non200: 0, failed: 0, unanswered: 0, maxSendLagMs: 0 };
  let inFlight = 0;
  let stopping = false;
  const intervalMs = 1000 / o.rate;

  const send = (dueMs: number) => {
    inFlight++;
    result.sent++;
    const req = http.get(url, { agent, headers: o.host ? { host: o.host } : undefined }, (res) => {
      res.resume();
      res.once('end', () => {
        inFlight--;
        if (res.statusCode === 200) {
          result.dueMs.push(dueMs);
          result.latencyMs.push(performance.now() - t0 - dueMs);
        } else {
          result.non200++;
        }
      });
    });
    req.once('error', () => {
      inFlight--;
      result.failed++;
    });
  };

  let next = 0;
  const tick = () => {
    const now = performance.now() - t0;
    if (stopping || now > o.maxSeconds * 1000) return finish();
    // Everything due by now goes out, however late the loop woke up.
    while (next * intervalMs <= now) {
      result.maxSendLagMs = Math.max(result.maxSendLagMs, now - next * intervalMs);
      send(next * intervalMs);
      next++;
    }
    setTimeout(tick, Math.max(0, Math.min(1, next * intervalMs - now)));
  };

  const finish = () => {
    const deadline = performance.now() + o.drainSeconds * 1000;
    const wait = () => {
      if (inFlight > 0 && performance.now() < deadline) return void setTimeout(wait, 10);
      result.unanswered = inFlight;
      agent.destroy();
      process.send?.(result, () => process.exit(0));
    };
    wait();
  };

  process.on('message', (m) => {
    if (m === 'stop') stopping = true;
  });
  // The parent gone means nobody is measuring: stop at once.
  process.on('disconnect', () => process.exit(0));
  tick();
}

main();
