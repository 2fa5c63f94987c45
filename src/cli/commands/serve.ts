import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import { BerthError } from '../../errors.ts';
import { createLogger, flushLogger, LOG_FORMAT_ENV, type LogFormat } from '../../log/logger.ts';
import { runSupervisor } from '../../app/supervisor.ts';
import { configOption, type Command } from '../command.ts';

const serve: Command = {
  name: 'serve',
  summary: 'run the server: HTTP and HTTPS listeners for every configured site',
  usage: 'serve [--config FILE] [--log-format json|text]',
  details: `Serves each site's live release on server.http_port and server.https_port
(HTTP/2 with HTTP/1.1 fallback), routing by host name. Logs go to standard
output: one readable line per event on a terminal, JSON lines otherwise (a
pipe, a file, systemd's journal, docker logs) or with --log-format json.

Processes: this one is the supervisor. It reads the config once, opens the
ports and starts
  - server.workers serving workers (default "auto": one per CPU core), each
    with its own socket per port on Linux (SO_REUSEPORT), so the kernel
    spreads connections; they only serve files and check webhook signatures
  - one control plane: deploys, git, builds, the state database, ACME
and restarts any of them that dies. It serves nothing itself. See
docs/processes.md.

With ACME on (acme.directory), every site's public domains get a
certificate: HTTPS answers at once with a self-signed certificate, and the
real one replaces it as soon as the CA has issued it. See \`berth certs\`.

Signals (to the supervisor):
  SIGTERM, SIGINT    stop accepting, let requests in flight finish (the
                     workers), then stop the control plane; exit 0
  SIGHUP             re-read every site's live release and the stored
                     certificates now (publish, rollback and \`berth certs
                     --renew\` are noticed without it)
  SIGUSR2            read berth.toml again and apply it without dropping a
                     connection; \`berth reload\` sends it and reports the
                     outcome

Exit codes: 0 after a clean stop; 1 when it cannot start, or when its
processes keep exiting right after they start, or one cannot use the
configuration it was given.

Options:
  --config, -c FILE      the config file (default ./berth.toml, then $BERTH_CONFIG)
  --log-format FORMAT    json or text (default: text on a terminal, else json)`,
  maxPositionals: 0,
  options: { ...configOption, 'log-format': { type: 'string' } },
  async run(args, io) {
    const asked = args.values['log-format'] as string | undefined;
    if (asked !== undefined && asked !== 'json' && asked !== 'text') {
      throw new BerthError('E_USAGE', `--log-format ${JSON.stringify(asked)} is not a format; use json or text`);
    }
    const format: LogFormat = asked ?? ((io.stdout as { isTTY?: boolean }).isTTY === true ? 'text' : 'json');
    const config = await loadConfig(findConfigPath(args.values.config as string | undefined, io.env, io.cwd), io.env, { writableDataDir: true });
    // The control plane and the workers write to the same output: they read the format from their environment.
    process.env[LOG_FORMAT_ENV] = format;
    const logger = createLogger({ level: config.log.level, format });
    try {
      return await runSupervisor(config, logger);
    } finally {
      await flushLogger(logger);
    }
  },
};

export default serve;
