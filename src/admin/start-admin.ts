import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { ControlPlane } from '../deploy/control-plane.ts';
import type { Logger } from '../log/logger.ts';
import { createSiteService } from '../api/site-service.ts';
import { createAdminApp } from './admin-app.ts';
import { startAdminServer } from './admin-server.ts';
import { openAdminStore } from './admin-store.ts';
import { createApiTokens } from './api-tokens.ts';
import { createSessions } from './sessions.ts';
import { createSignInLimit } from './sign-in-limit.ts';

/**
 * The admin app in the control plane, which holds what it shows and does:
 * the deploy history and queue, the releases and certificates. Failing to
 * start it (a data dir that refuses the socket) is logged; deploys and
 * serving go on without a dashboard.
 */
export async function startAdmin(config: ResolvedConfig, control: ControlPlane, logger: Logger): Promise<{ close(): Promise<void> } | undefined> {
  try {
    const admins = openAdminStore(config.dataDir);
    const app = createAdminApp({
      admins,
      sessions: createSessions(admins),
      limit: createSignInLimit(admins),
      tokens: createApiTokens(admins),
      service: createSiteService(config, control.store, control.deployer, logger),
      dataDir: config.dataDir,
      logger,
    });
    const server = await startAdminServer(config.dataDir, app, logger);
    logger.info({ domain: config.admin.domain }, 'dashboard and API ready');
    return {
      async close() {
        await server.close();
        admins.close();
      },
    };
  } catch (error) {
    logger.error({ err: error }, 'cannot start the dashboard and API; serving and deploys go on without them');
    return undefined;
  }
}
