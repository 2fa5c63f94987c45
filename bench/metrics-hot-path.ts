/**
 * The work metrics add to one request, measured in process, away from the
 * noise of a loaded machine: what `countRequest` does for an HTTP/1.1
 * request (a close listener, the in-flight count, the body size of the
 * reply, and at close the counts and the duration histogram), against the
 * same response object answered without it. Each side runs in blocks of
 * BENCH_HOT_N requests, alternating, BENCH_HOT_ROUNDS times; the result is
 * the median per request of each side and their difference, in ns.
 *   node bench/metrics-hot-path.ts
 */
import { EventEmitter } from 'node:events';
import { countRequest, type HttpResponse } from '../src/server/request-handler.ts';
import { ServingMetrics } from '../src/server/serving-metrics.ts';
import { median } from './lib/rounds.ts';
import { envInt } from './lib/settings.ts';

const n = envInt('BENCH_HOT_N', 200_000, 1000, 10_000_000);
const rounds = envInt('BENCH_HOT_ROUNDS', 15, 1, 1000);
const metrics = new ServingMetrics(['blog', 'docs', 'status'], ['github']);

/** What the handler touches of a response: an emitter that closes once answered, as Node's does. */
class Response extends EventEmitter {
  headersSent = true;
  statusCode = 200;
  writableEnded = true;
  destroyed = false;
  writeHead(): this {
    return this;
  }
  end(): this {
    return this;
  }
  destroy(): this {
    return this;
  }
}

function block(counting: boolean): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const res = new Response();
    if (counting) {
      const counted = countRequest(metrics, 'GET', res as unknown as HttpResponse);
      counted.site = i % 3;
      counted.bytes = 1024;
    }
    res.emit('close');
  }
  return Number(process.hrtime.bigint() - started) / n;
}

const off: number[] = [];
const on: number[] = [];
// Warm-up: both paths compiled before anything is kept.
block(false);
block(true);
for (let round = 0; round < rounds; round++) {
  if (round % 2 === 0) {
    off.push(block(false));
    on.push(block(true));
  } else {
    on.push(block(true));
    off.push(block(false));
  }
}
const offNs = median(off) ?? 0;
const onNs = median(on) ?? 0;
process.stdout.write(`${JSON.stringify({ requestsPerBlock: n, rounds, offNsPerRequest: +offNs.toFixed(1), onNsPerRequest: +onNs.toFixed(1), addedNsPerRequest: +(onNs - offNs).toFixed(1) })}\n`);
