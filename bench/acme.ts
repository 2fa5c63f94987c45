/**
 * The certificate benchmark: how long after its process starts a server
 * serves a browser-valid certificate for a name it has never had one for.
 * Caddy, certbot and Berth against the same Pebble (Let's Encrypt's test CA)
 * in the same run, with real HTTP-01 validation: Pebble fetches every token
 * from the HTTP port the client listens on.
 *
 * Each round of each client starts from an empty storage dir, a new ACME
 * account and a new name (`r<round>-<client>.example.com`). Caddy and Berth
 * are timed from spawn to the first TLS handshake on their HTTPS port that
 * verifies against Pebble's root for that name; certbot (`certonly
 * --standalone`, which serves nothing) from spawn to its exit with the
 * certificate written.
 *
 * Writes bench/results/acme-<timestamp>.json and .md, and the "Certificates"
 * section of BENCHMARKS.md. Started by bench/acme.sh. Slow numbers never fail
 * it; a client that gets no certificate within the timeout does.
 *
 * Settings (environment):
 *   BENCH_ACME_ROUNDS=5                 rounds per client
 *   BENCH_ACME_SERVERS=caddy,certbot,berth  which clients, in this order within a round
 *   BENCH_ACME_TIMEOUT=30               seconds a round may take before it counts as failed
 *   BENCH_WRITE_DOC=auto                1/0; auto = when all three clients ran and every round succeeded
 *   BENCH_TMP                           work dir (bench/acme.sh makes one)
 */
import { saveResults } from './lib/results-files.ts';
import { envInt, progressLog } from './lib/settings.ts';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startPebble, type Pebble } from '../test/helpers/pebble.ts';
import { machineTable, measuredBy, replaceMarkedSection } from './lib/benchmarks-md.ts';
import { describeMachine } from './lib/machine.ts';
import { cmdline, installExitHandlers, isRunning, processTree, setPidDir, startTracked, stopTracked, tail, waitPortsFree, type Tracked } from './lib/proc.ts';
import { median, spread } from './lib/rounds.ts';
import { PEERS, PEER_LABEL, launch, roundName, type AcmeSetup, type PeerName } from './lib/acme-peers.ts';

const log = progressLog('acme-bench');

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const POLL_MS = 10;
/** One handshake attempt may take this long before it is abandoned. */
const ATTEMPT_MS = 2000;
const STOP_GRACE_MS = 5000;
const EMAIL = 'bench@example.com';
const BEGIN = '<!-- BEGIN certificates: written by bench/acme.sh -->';
const END = '<!-- END certificates -->';

function envServers(): PeerName[] {
  const raw = process.env.BENCH_ACME_SERVERS;
  if (raw === undefined || raw === '') return [...PEERS];
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = list.filter((s) => !(PEERS as readonly string[]).includes(s));
  if (bad.length > 0 || list.length === 0) throw new Error(`BENCH_ACME_SERVERS=${raw}: use a comma-separated list of ${PEERS.join(', ')}`);
  return [...new Set(list)] as PeerName[];
}

export interface RoundResult {
  round: number;
  server: PeerName;
  name: string;
  ok: boolean;
  /** Spawn to the first verified handshake (certbot: to its exit 0 with a valid certificate). */
  ms?: number;
  /** Spawn to the first connection to the HTTPS port that was not refused. */
  portOpenMs?: number;
  /** Handshake attempts made, counting the one that verified. */
  attempts?: number;
  /** Serial of the certificate served (or written), lower-case hex. */
  serial?: string;
  /** Whether Pebble logged issuing that serial in this run. */
  issuedByPebble?: boolean;
  /** After the measurement: how long the stop took, and whether SIGKILL was needed. */
  stopMs?: number;
  killed?: boolean;
  exitCode?: number | null;
  error?: string;
  logTail?: string;
  logFile: string;
}

export interface ServerSummary {
  rounds: number;
  ok: number;
  medianMs?: number;
  minMs?: number;
  maxMs?: number;
  portOpenMedianMs?: number;
  /** Median of (verified − port open): the certificate's own part, without start-up. */
  afterOpenMedianMs?: number;
}

export interface AcmeResults {
  startedAt: string;
  finishedAt: string;
  command: string;
  settings: { rounds: number; servers: PeerName[]; timeoutSeconds: number; pollMs: number; httpPort: number; httpsPort: number };
  machine: Record<string, string>;
  /** The config each server got in its first round (the others differ only in names and paths). */
  configs: Partial<Record<PeerName, string>>;
  certbotCommand?: string;
  rounds: RoundResult[];
  summary: Partial<Record<PeerName, ServerSummary>>;
  notes: string[];
}

interface Probe {
  at?: number;
  portOpenAt?: number;
  attempts: number;
  serial?: string;
  lastError?: string;
  /** The process exited before a certificate verified. */
  exited?: boolean;
}

type Attempt = { ok: true; serial: string } | { ok: false; refused: boolean; error: string };

/** One TLS handshake to the HTTPS port, trusting only Pebble's root, with SNI and host name check for `name`. */
function handshake(port: number, name: string, ca: string): Promise<Attempt> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (a: Attempt) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(a);
    };
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: name, ca: [ca], rejectUnauthorized: true });
    socket.setTimeout(ATTEMPT_MS, () => done({ ok: false, refused: false, error: 'handshake timed out' }));
    socket.once('secureConnect', () => done({ ok: true, serial: normalSerial(socket.getPeerCertificate().serialNumber) }));
    socket.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, refused: err.code === 'ECONNREFUSED', error: err.code ?? err.message }));
  });
}

/**
 * Polls until the server's HTTPS port presents a certificate that verifies,
 * the process exits, or `deadline` (performance.now() time) passes. Attempts
 * run one after another, POLL_MS apart, so a slow handshake is never raced
 * by a second connection.
 */
async function waitForVerified(proc: Tracked, port: number, name: string, ca: string, deadline: number): Promise<Probe> {
  const probe: Probe = { attempts: 0 };
  while (performance.now() < deadline) {
    if (!isRunning(proc)) return { ...probe, exited: true };
    const a = await handshake(port, name, ca);
    probe.attempts++;
    if (a.ok) {
      probe.at = performance.now();
      probe.portOpenAt ??= probe.at;
      probe.serial = a.serial;
      return probe;
    }
    if (!a.refused) probe.portOpenAt ??= performance.now();
    probe.lastError = a.error;
    await sleep(POLL_MS);
  }
  return probe;
}

function normalSerial(hex: string): string {
  return hex.toLowerCase().replace(/[^0-9a-f]/g, '').replace(/^0+(?=.)/, '');
}

function splitPem(text: string): X509Certificate[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]));
}

/**
 * Checks what certbot wrote as a browser would check it when served: the
 * leaf is for `name`, in its validity period, matches the private key, and
 * the chain in the file leads by signatures to Pebble's root. Returns the
 * leaf's serial, or throws saying what is wrong.
 */
function verifyCertFiles(certFile: string, keyFile: string, name: string, rootPem: string): string {
  if (!existsSync(certFile)) throw new Error(`${certFile} was not written`);
  const chain = splitPem(readFileSync(certFile, 'utf8'));
  const leaf = chain[0];
  if (leaf === undefined) throw new Error(`${certFile} holds no certificate`);
  if (leaf.checkHost(name) === undefined) throw new Error(`the certificate is not for ${name} (${leaf.subjectAltName ?? leaf.subject})`);
  const now = Date.now();
  if (Date.parse(leaf.validFrom) > now || Date.parse(leaf.validTo) < now) throw new Error(`the certificate is not valid now (${leaf.validFrom} to ${leaf.validTo})`);
  if (!leaf.checkPrivateKey(createPrivateKey(readFileSync(keyFile)))) throw new Error(`${keyFile} does not match the certificate`);
  const rootCert = new X509Certificate(rootPem);
  let current = leaf;
  for (const next of [...chain.slice(1), rootCert]) {
    if (current.checkIssued(rootCert) && current.verify(rootCert.publicKey)) return normalSerial(leaf.serialNumber);
    if (!current.checkIssued(next) || !current.verify(next.publicKey)) throw new Error(`the chain breaks at ${current.subject}: not signed by ${next.subject}`);
    current = next;
  }
  throw new Error("the chain does not lead to Pebble's root");
}

/**
 * The promise's value, or `timeout` after `timeoutMs`. The timer is cleared
 * either way: a pending one would keep Node alive after the run.
 */
async function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T | 'timeout'> {
  const stop = new AbortController();
  try {
    return await Promise.race([promise, sleep(timeoutMs, 'timeout' as const, { signal: stop.signal })]);
  } finally {
    stop.abort();
  }
}

async function runRound(setup: AcmeSetup, pebble: Pebble, rootPem: string, server: PeerName, round: number, tmp: string, logDir: string, timeoutMs: number): Promise<{ result: RoundResult; config?: string; command?: string }> {
  const name = roundName(round, server);
  const dir = join(tmp, 'rounds', `${server}-${round}`);
  const spec = launch(server, setup, name, dir);
  const issuedBefore = pebble.issued().length;
  const label = `${server}-r${round}`;
  const t0 = performance.now();
  const proc = startTracked(label, spec.cmd, spec.args, logDir, { env: spec.env, cwd: server === 'berth' ? setup.root : dir });
  const result: RoundResult = { round, server, name, ok: false, logFile: proc.logFile };
  const deadline = t0 + timeoutMs;
  try {
    if (spec.mode === 'serves') {
      const probe = await waitForVerified(proc, setup.httpsPort, name, rootPem, deadline);
      result.attempts = probe.attempts;
      if (probe.portOpenAt !== undefined) result.portOpenMs = probe.portOpenAt - t0;
      if (probe.at !== undefined && probe.serial !== undefined) {
        result.ms = probe.at - t0;
        result.serial = probe.serial;
        result.ok = true;
      } else if (probe.exited) {
        result.error = `exited (code ${String(proc.child.exitCode ?? proc.child.signalCode)}) before serving a valid certificate; last handshake: ${probe.lastError ?? 'none'}`;
      } else {
        result.error = `no valid certificate served within ${timeoutMs / 1000} s (${probe.attempts} handshakes; the last: ${probe.lastError ?? 'none'})`;
      }
    } else {
      const code = await withTimeout(proc.exited, Math.max(0, deadline - performance.now()));
      const exitedAt = performance.now();
      if (code === 'timeout') {
        result.error = `did not finish within ${timeoutMs / 1000} s`;
      } else if (code !== 0) {
        result.exitCode = code;
        result.error = `exited with ${String(code)}`;
      } else {
        result.exitCode = 0;
        result.serial = verifyCertFiles(spec.certFile ?? '', spec.keyFile ?? '', name, rootPem);
        result.ms = exitedAt - t0;
        result.ok = true;
      }
    }
  } catch (err) {
    result.ok = false;
    result.error = (err as Error).message;
  } finally {
    const s0 = performance.now();
    const wasRunning = isRunning(proc);
    await stopTracked(proc, STOP_GRACE_MS);
    if (wasRunning) {
      result.stopMs = performance.now() - s0;
      result.killed = proc.child.signalCode === 'SIGKILL';
      result.exitCode ??= proc.child.exitCode;
    }
  }
  if (result.serial !== undefined) {
    // The CA's own log says whether this run's Pebble issued what was served;
    // the root check already rules out anything else, this makes it visible.
    result.issuedByPebble = pebble.issued().slice(issuedBefore).map(normalSerial).includes(result.serial);
  }
  if (!result.ok) result.logTail = tail(proc.logFile, 25);
  if (!(await waitPortsFree([setup.httpPort, setup.httpsPort], 10_000))) {
    throw new Error(`after ${label} stopped, something still listens on port ${setup.httpPort} or ${setup.httpsPort}`);
  }
  return { result, config: spec.config, command: spec.mode === 'exits' ? [spec.cmd, ...spec.args].join(' ') : undefined };
}

function summarize(rounds: RoundResult[]): ServerSummary {
  const times = spread(rounds.filter((r) => r.ok && r.ms !== undefined).map((r) => r.ms as number));
  const open = rounds.filter((r) => r.portOpenMs !== undefined).map((r) => r.portOpenMs as number);
  return {
    rounds: rounds.length,
    ok: rounds.filter((r) => r.ok).length,
    medianMs: times?.median,
    minMs: times?.min,
    maxMs: times?.max,
    portOpenMedianMs: median(open),
    afterOpenMedianMs: median(rounds.filter((r) => r.ok && r.ms !== undefined && r.portOpenMs !== undefined).map((r) => (r.ms as number) - (r.portOpenMs as number))),
  };
}

const ms = (n: number | undefined) => (n === undefined ? '—' : n < 10_000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(1)} s`);

function table(head: string[], rows: string[][], textColumns = 1): string {
  return [head, head.map((_, i) => (i < textColumns ? '---' : '---:')), ...rows].map((cols) => `| ${cols.join(' | ')} |`).join('\n');
}

/** "Berth takes 1.23× Caddy's time", from medians; undefined when either is missing. */
function ratio(r: AcmeResults, a: PeerName, b: PeerName): number | undefined {
  const x = r.summary[a];
  const y = r.summary[b];
  if (!x || !y || x.ok !== x.rounds || y.ok !== y.rounds || x.medianMs === undefined || y.medianMs === undefined || y.medianMs === 0) return undefined;
  return x.medianMs / y.medianMs;
}

function indent(text: string): string[] {
  return ['```', ...text.trimEnd().split('\n'), '```'];
}

export function renderSection(r: AcmeResults, resultsFile: string): string {
  const st = r.settings;
  const out: string[] = [
    '## Certificates',
    '',
    ...measuredBy(r.command, r.startedAt, resultsFile),
    '',
    'Time from starting a server process to a browser-valid certificate for a new name, against the',
    'same CA in the same run. Lower is better.',
    '',
    'How it measures:',
    '',
    `- One Pebble (Let's Encrypt's test CA, Debian \`pebble\` ${r.machine.Pebble ?? '?'}) serves the whole run, with`,
    '  `pebble-challtestsrv` answering every DNS query with 127.0.0.1. Validation is real HTTP-01: Pebble',
    `  fetches each token from 127.0.0.1:${st.httpPort}, the HTTP port every client listens on in turn (no`,
    '  `PEBBLE_VA_ALWAYS_VALID`). `PEBBLE_VA_NOSLEEP=1` takes out the random wait of up to 15 s Pebble',
    "  otherwise puts before each validation (Let's Encrypt has none), and `PEBBLE_AUTHZREUSE=0` makes every",
    '  order validate.',
    `- ${st.rounds} round${st.rounds === 1 ? '' : 's'}. In each, the clients run one after another (${st.servers.map((s) => PEER_LABEL[s]).join(', ')}), each from an empty storage dir,`,
    '  with a new ACME account and a name no earlier round used (`r<round>-<client>.example.com`), so',
    '  nothing is cached on either side. Each is stopped (SIGTERM) and its ports free before the next starts.',
    `- Caddy and Berth: the clock starts when the process is spawned and stops at the first TLS handshake on`,
    `  the HTTPS port (${st.httpsPort}) that verifies for the name against Pebble's root alone (Node's \`tls.connect\`,`,
    `  SNI set, host name checked), tried every ${st.pollMs} ms, one attempt at a time. Berth presents a self-signed`,
    '  certificate until the real one arrives; those handshakes fail verification and do not count (each',
    '  costs Berth a full handshake, where Caddy, with no certificate yet, ends it at once).',
    '- certbot (`certonly --standalone`): from spawn to its exit with status 0. The certificate and key it',
    "  wrote are then checked (name, dates, key, signatures up to Pebble's root). It serves nothing, so a",
    "  web server's reload to pick the certificate up would come on top of its time.",
    `- A round not done within ${st.timeoutSeconds} s fails. "HTTPS port open" is when the first connection to the HTTPS`,
    '  port was not refused (process start-up, before any certificate); the last column is the rest, the',
    '  time the ACME exchange and loading the certificate took.',
    '- The clients, Pebble and the polling share the cores; numbers on a shared VM vary from run to run.',
    '',
  ];

  const present = PEERS.filter((p) => r.summary[p] !== undefined);
  out.push(
    table(
      ['', 'median', 'min', 'max', 'rounds ok', 'HTTPS port open (median)', 'then to the certificate (median)'],
      present.map((p) => {
        const s = r.summary[p] as ServerSummary;
        return [PEER_LABEL[p], ms(s.medianMs), ms(s.minMs), ms(s.maxMs), `${s.ok} of ${s.rounds}`, p === 'certbot' ? '—' : ms(s.portOpenMedianMs), p === 'certbot' ? '—' : ms(s.afterOpenMedianMs)];
      }),
    ),
    '',
  );

  const vsCaddy = ratio(r, 'berth', 'caddy');
  const vsCertbot = ratio(r, 'berth', 'certbot');
  if (vsCaddy !== undefined || vsCertbot !== undefined) {
    const parts: string[] = [];
    if (vsCaddy !== undefined) parts.push(`${vsCaddy.toFixed(2)}× Caddy's time`);
    if (vsCertbot !== undefined) parts.push(`${vsCertbot.toFixed(2)}× certbot's`);
    out.push(`Berth takes ${parts.join(' and ')} (medians).`);
    if (vsCaddy !== undefined) out.push(`Target, no slower than Caddy: ${vsCaddy <= 1 ? 'met' : 'not met'}.`);
    out.push('');
  }

  out.push(
    'Every round:',
    '',
    table(
      ['round', ...present.map((p) => PEER_LABEL[p])],
      Array.from({ length: st.rounds }, (_, i) => [
        String(i + 1),
        ...present.map((p) => {
          const x = r.rounds.find((y) => y.server === p && y.round === i + 1);
          return x === undefined ? '—' : x.ok ? ms(x.ms) : '**failed**';
        }),
      ]),
    ),
    '',
  );

  const failed = r.rounds.filter((x) => !x.ok);
  if (failed.length) {
    out.push('Failed rounds:', '');
    for (const f of failed) out.push(`- ${PEER_LABEL[f.server]}, round ${f.round} (${f.name}): ${(f.error ?? '').split('\n')[0]}`);
    out.push('');
  }

  out.push('Configurations of the first round (written by `bench/lib/acme-peers.ts`; later rounds differ in the name and', 'the paths; `$TMP` is the run\'s temp dir, the ports and the directory URL change every run):', '');
  if (r.configs.caddy) out.push(`Caddy (\`caddy run --config Caddyfile --adapter caddyfile\`):`, '', ...indent(r.configs.caddy), '');
  if (r.certbotCommand) {
    // One option per line, so the block reads without scrolling sideways.
    const wrapped = r.certbotCommand.replace(/ (?=--?[a-z])/g, ' \\\n  ');
    out.push('certbot, with `REQUESTS_CA_BUNDLE` set to the certificate of Pebble\'s API:', '', ...indent(wrapped), '');
  }
  if (r.configs.berth) out.push('Berth (`node src/cli/main.ts serve --config berth.toml`):', '', ...indent(r.configs.berth), '');

  out.push(...machineTable(r.machine));
  if (r.notes.length) {
    out.push('Notes from this run:', '');
    for (const n of r.notes) out.push(`- ${n}`);
    out.push('');
  }
  return out.join('\n');
}

/**
 * Pebble and its DNS server are children of this process that bench/lib/proc.ts
 * does not track: their pids go into the work dir, where bench/acme.sh's
 * clean-up finds them even if this process is killed hard, and they are
 * killed when it exits.
 */
function guardPebble(tmp: string): () => void {
  let pids = processTree(process.pid)
    .slice(1)
    .filter((pid) => /^\S*pebble/.test(cmdline(pid)));
  const file = (pid: number) => join(tmp, `pebble-${pid}.pid`);
  for (const pid of pids) writeFileSync(file(pid), `${pid}\n`);
  process.once('exit', () => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  // Once the helper has stopped them, the pids are forgotten, so a later
  // process that happens to get one of them is never signalled.
  return () => {
    for (const pid of pids) rmSync(file(pid), { force: true });
    pids = [];
  };
}

async function main(): Promise<void> {
  installExitHandlers();
  const rounds = envInt('BENCH_ACME_ROUNDS', 5, 1, 100);
  const timeoutSeconds = envInt('BENCH_ACME_TIMEOUT', 30, 1, 600);
  const servers = envServers();
  const writeDoc = process.env.BENCH_WRITE_DOC ?? 'auto';
  if (!['auto', '0', '1'].includes(writeDoc)) throw new Error(`BENCH_WRITE_DOC=${writeDoc}: use auto, 1 or 0`);

  const tmp = process.env.BENCH_TMP ? resolve(process.env.BENCH_TMP) : mkdtempSync(join(tmpdir(), 'berth-acme-bench-'));
  mkdirSync(tmp, { recursive: true });
  const logDir = join(tmp, 'logs');
  mkdirSync(logDir, { recursive: true });
  setPidDir(tmp);
  log(`work dir ${tmp}`);

  const cleanups: Array<() => Promise<void> | void> = [];
  // Kept for the work dir (BENCH_KEEP_TMP=1): what Pebble saw, validations included.
  let pebbleLog: (() => string) | undefined;
  try {
    // Pebble validates HTTP-01 on the port fixed when it starts, so one HTTP
    // port (and one HTTPS port) serves every client in turn.
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const pebbleDir = join(tmp, 'pebble');
    mkdirSync(pebbleDir, { recursive: true });
    const pebble = await startPebble({ after: (fn) => cleanups.push(async () => { await fn(); }) }, pebbleDir, { httpPort });
    cleanups.unshift(guardPebble(tmp));
    pebbleLog = () => pebble.output();
    const rootPem = await pebble.root();
    log(`Pebble at ${pebble.directoryUrl}; validating HTTP-01 on port ${httpPort}; HTTPS on ${httpsPort}`);

    const setup: AcmeSetup = { directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, httpPort, httpsPort, email: EMAIL, root, node: process.execPath };
    const results: AcmeResults = {
      startedAt: new Date().toISOString(),
      finishedAt: '',
      command: 'bash bench/acme.sh',
      settings: { rounds, servers, timeoutSeconds, pollMs: POLL_MS, httpPort, httpsPort },
      machine: await describeMachine(root, [
        ['Pebble', 'dpkg-query', ['-W', 'pebble'], /pebble\s+(\S+)/],
        ['Caddy', 'caddy', ['version'], /v?(\d+\.\d+\.\d+\S*)/],
        ['certbot', 'certbot', ['--version'], /certbot (\S+)/],
      ]),
      configs: {},
      rounds: [],
      summary: {},
      notes: [],
    };

    // Rounds interleave the clients, so a slow spell of the machine falls on
    // all of them rather than on whichever ran during it.
    for (let round = 1; round <= rounds; round++) {
      for (const server of servers) {
        const { result, config, command } = await runRound(setup, pebble, rootPem, server, round, tmp, logDir, timeoutSeconds * 1000);
        results.rounds.push(result);
        if (config !== undefined) results.configs[server] ??= config.replaceAll(tmp, '$TMP');
        if (command !== undefined) results.certbotCommand ??= command.replaceAll(tmp, '$TMP');
        if (result.ok) {
          const open = result.portOpenMs === undefined ? '' : `, HTTPS port open after ${ms(result.portOpenMs)}`;
          log(`${PEER_LABEL[server]} round ${round} (${result.name}): ${ms(result.ms)}${open}, serial ${result.serial ?? '?'}`);
          if (result.issuedByPebble === false) results.notes.push(`${PEER_LABEL[server]} round ${round}: Pebble's log does not show serial ${result.serial ?? '?'} as issued`);
        } else {
          log(`${PEER_LABEL[server]} round ${round} (${result.name}): FAILED: ${result.error ?? '?'}\n${result.logTail ?? ''}`);
        }
        if (result.killed) results.notes.push(`${PEER_LABEL[server]} round ${round}: did not exit within ${STOP_GRACE_MS / 1000} s of SIGTERM and was killed`);
      }
    }
    for (const server of servers) results.summary[server] = summarize(results.rounds.filter((r) => r.server === server));

    results.finishedAt = new Date().toISOString();
    const section = saveResults(root, 'acme-', results, (rel) => renderSection(results, rel), log);

    const allOk = results.rounds.every((r) => r.ok);
    const allServers = PEERS.every((p) => servers.includes(p));
    if (writeDoc === '1' || (writeDoc === 'auto' && allOk && allServers)) {
      replaceMarkedSection(join(root, 'BENCHMARKS.md'), BEGIN, END, section);
      log('BENCHMARKS.md: "Certificates" section rewritten');
    } else {
      log(`BENCHMARKS.md left as it is (${writeDoc === '0' ? 'BENCH_WRITE_DOC=0' : !allOk ? 'a round failed' : 'not every client ran'})`);
    }
    // Slow numbers never fail the run; a client that got no certificate does.
    process.exitCode = allOk ? 0 : 1;
  } finally {
    for (const fn of cleanups.reverse()) await fn();
    if (pebbleLog !== undefined) writeFileSync(join(logDir, 'pebble.log'), pebbleLog());
  }
}

main().catch((err: unknown) => {
  console.error(`acme-bench: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
