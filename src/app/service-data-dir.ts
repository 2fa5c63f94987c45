import type { ResolvedConfig } from '../config/resolved-config.ts';
import { createLocalBuildHost } from '../deploy/local-build-host.ts';
import type { Logger } from '../log/logger.ts';
import { reportDataDirModes } from '../state/data-dir-modes.ts';
import type { ServiceUser } from './service-user.ts';

/**
 * Run by a root parent before it starts an unprivileged child as `user`:
 * makes the data dir if there is none, gives what root owns in it to
 * `user` (an upgrade from a Berth that ran as root leaves everything
 * root's), and sets the modes and build groups builds need (see
 * state/data-dir-modes.ts). The child, which cannot change groups or
 * owners, then finds a data dir it can write.
 */
export async function handDataDirTo(config: ResolvedConfig, user: ServiceUser, logger: Logger): Promise<void> {
  const host = createLocalBuildHost(config, { owner: { uid: user.uid, gid: user.gid } });
  reportDataDirModes(await host.secureDataDir(), logger);
}
