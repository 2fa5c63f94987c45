import { once } from 'node:events';
import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import { createLogger, flushLogger } from '../../log/logger.ts';
import { startServer } from '../../server/serve.ts';
import { configOption, type Command } from '../command.ts';

const serve: Command = {
  name: 'serve',
  summary: 'run the server: HTTP and HTTPS listeners for every configured site',
  usage: 'serve [--config FILE]',
  details: `Serves each site's live release on server.http_port and server.https_port
(HTTP/2 with HTTP/1.1 fallback), routing by host name. Logs are JSON lines on
standard output.

Signals:
  SIGTERM, SIGINT    stop accepting, let requests in flight finish, exit 0
  SIGHUP             re-read every site's live release now (publish and
                     rollback are noticed without it, within milliseconds)

Options:
  --config, -c FILE  the config file (default ./berth.toml, then $BERTH_CONFIG)`,
  options: { ...configOption },
  async run(args, io) {
    const config = await loadConfig(findConfigPath(args.values.config as string | undefined, io.env, io.cwd), io.env);
    const logger = createLogger({ level: config.log.level });
    const server = await startServer(config, logger);
    const onHup = (): void => void server.releases.reloadAll();
    process.on('SIGHUP', onHup);
    const signal = await Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')]);
    logger.info({ signal: signal[0] ?? 'signal' }, 'shutting down; waiting for requests in flight');
    process.off('SIGHUP', onHup);
    await server.stop();
    logger.info('stopped');
    flushLogger(logger);
    return 0;
  },
};

export default serve;
