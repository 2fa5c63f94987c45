import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import type { ResolvedConfig } from '../../config/resolved-config.ts';
import { BerthError } from '../../errors.ts';
import { createLogger, flushLogger } from '../../log/logger.ts';
import { planCertificates, skipReason } from '../../acme/acme-names.ts';
import { certificateHolders } from '../../tls/certificate-holders.ts';
import { createManagerFor } from '../../acme/certificate-manager-for.ts';
import { certificateInfo, createFileStorage, type CertificateInfo, type RenewalState } from '../../acme/certificate-storage.ts';
import { createChallengeStore, type ChallengeStore } from '../../acme/challenge-store.ts';
import { CHALLENGE_PREFIX } from '../../server/challenge-responder.ts';
import { formatSpan } from '../../acme/renewal-schedule.ts';
import { runningServerPid } from '../../state/data-dir-lock.ts';
import { reloadRunningServer } from '../../app/reload-server.ts';
import { configOption, type Command, type CommandIo } from '../command.ts';

interface NameRow {
  name: string;
  site: string;
  /** `acme`, `files` (server.tls) or `self-signed`. */
  source: 'acme' | 'files' | 'self-signed';
  issuer: string | undefined;
  notAfter: string | undefined;
  nextCheck: string | undefined;
  lastError: RenewalState['lastError'];
  note: string | undefined;
}

const certs: Command = {
  name: 'certs',
  summary: 'list certificates with expiry and renewal state; renew one now',
  usage: 'certs [--json]\n       certs --renew NAME',
  details: `Lists every configured domain with the certificate it is served with:
issuer, expiry, the next renewal check and the last error. Certificates from
ACME are kept under data_dir/certs/<first domain of the site>/.

--renew NAME orders a new certificate for the site that has NAME now,
whatever the dates of the current one. When \`berth serve\` is running on the
same data directory it answers the CA's challenge and is told to load the
new certificate; otherwise this command listens on server.http_port itself
for the length of the order. Run it as the user \`berth serve\` runs as, so
the files it writes stay readable to the server.

Options:
  --renew NAME       renew the certificate holding NAME now
  --json             print JSON instead of a table
  --config, -c FILE  the config file (default ./berth.toml, then $BERTH_CONFIG)`,
  maxPositionals: 0,
  options: { ...configOption, renew: { type: 'string' }, json: { type: 'boolean' } },
  async run(args, io) {
    const config = await loadConfig(findConfigPath(args.values.config as string | undefined, io.env, io.cwd), io.env);
    const renew = args.values.renew as string | undefined;
    if (renew !== undefined) return renewNow(config, renew, io);
    const rows = await describeNames(config);
    if (args.values.json === true) {
      io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      io.stdout.write('no domains are configured; add a [[sites]] table with domains\n');
      return 0;
    }
    const now = Date.now();
    const table = rows.map((row) => [
      row.name,
      row.issuer ?? '-',
      row.notAfter === undefined ? '-' : `${row.notAfter} (${formatSpan(Date.parse(row.notAfter) - now)})`,
      row.nextCheck ?? '-',
      row.lastError === undefined ? (row.note ?? '') : `${row.lastError.code} at ${row.lastError.at}: ${row.lastError.message}`,
    ]);
    const header = ['NAME', 'ISSUER', 'NOT AFTER', 'NEXT CHECK', 'LAST ERROR'];
    const widths = header.map((title, i) => Math.max(title.length, ...table.map((cells) => (cells[i] ?? '').length)));
    for (const cells of [header, ...table]) {
      io.stdout.write(`${cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd()}\n`);
    }
    return 0;
  },
};

async function describeNames(config: ResolvedConfig): Promise<NameRow[]> {
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

async function renewNow(config: ResolvedConfig, name: string, io: CommandIo): Promise<number> {
  if (config.acme.directoryUrl === undefined) {
    throw new BerthError('E_ACME_OFF', 'ACME is not in use (acme.directory is "off", server.tls gives the certificate, or a listener is off), so there is nothing to renew; set acme.directory to use it');
  }
  const since = new Date();
  const logger = createLogger({
    level: 'info',
    destination: {
      write(line: string) {
        const entry = JSON.parse(line) as { msg?: string; level?: string };
        io.stderr.write(`${entry.level === 'info' ? '' : `${String(entry.level)}: `}${String(entry.msg)}\n`);
      },
    } as never,
  });
  const challenges = createChallengeStore(config.dataDir);
  const serverPid = await runningServerPid(config.dataDir);
  // With no server running, nothing answers on the HTTP port: answer the CA here.
  const listener = serverPid === undefined ? await answerChallenges(config, challenges) : undefined;
  try {
    const manager = createManagerFor(config, logger, { challenges, httpPort: listener?.port ?? (config.server.httpPort === false ? undefined : config.server.httpPort) });
    if (manager === undefined) return 1;
    const stored = await manager.renew(name, since);
    let served = '';
    if (serverPid !== undefined) {
      const error = await reloadRunningServer(serverPid, io.env);
      served = error === undefined
        ? `; berth serve (pid ${serverPid}) is serving it`
        : `; berth serve (pid ${serverPid}) could not be told (${error}): run this as root or as its user, or send it SIGHUP; it picks the certificate up at its next check`;
    }
    io.stdout.write(`renewed ${stored.info.names.join(', ')}: serial ${stored.info.serial}, issued by ${stored.info.issuer}, valid until ${stored.info.notAfter.toISOString()}${served}\n`);
    return 0;
  } finally {
    await listener?.close();
    await flushLogger(logger);
  }
}

/** A bare HTTP-01 responder on server.http_port for the length of one order. */
async function answerChallenges(config: ResolvedConfig, challenges: ChallengeStore): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    const token = url.startsWith(CHALLENGE_PREFIX) ? url.slice(CHALLENGE_PREFIX.length) : '';
    challenges.lookup(token).then(
      (answer) => {
        res.writeHead(answer === undefined ? 404 : 200, { 'content-type': 'text/plain' });
        res.end(answer ?? 'not found\n');
      },
      () => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('cannot read the challenge answer\n');
      },
    );
  });
  if (config.server.httpPort === 0) {
    throw new BerthError('E_LISTEN', 'server.http_port is 0 (any free port), which the CA cannot find; renew while `berth serve` runs, or set a fixed http_port');
  }
  const port = config.server.httpPort === false ? 80 : config.server.httpPort;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new BerthError('E_LISTEN', `Cannot listen on ${config.server.host} port ${port} (server.http_port) to answer the CA's challenge: ${error.code === 'EADDRINUSE' ? 'another program is using it; if that is a web server, renew while `berth serve` runs instead' : error.message}`, { cause: error })),
    );
    server.listen(port, config.server.host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export default certs;
