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
import { createDashboardPages } from './dashboard-routes.ts';
import { createPasskeyRoutes } from './passkey-routes.ts';
import { hashSecretToken, isSecretToken } from './secret-token.ts';

/**
 * The admin app in the control plane, which holds what it shows and does:
 * the deploy history and queue, the releases and certificates. Failing to
 * start it (a data dir that refuses the socket) is logged; deploys and
 * serving go on without a dashboard.
 */
export async function startAdmin(config: ResolvedConfig, control: ControlPlane, logger: Logger): Promise<{ close(): Promise<void> } | undefined> {
  try {
    const admins = openAdminStore(config.dataDir);
    const sessions = createSessions(admins);
    const limit = createSignInLimit(admins);
    const service = createSiteService(config, control.store, control.deployer, logger);
    const domain = config.admin.domain as string;
    const app = createAdminApp({
      admins,
      sessions,
      limit,
      tokens: createApiTokens(admins),
      service,
      dataDir: config.dataDir,
      logger,
      pages: createDashboardPages({
        service,
        dataDir: config.dataDir,
        linkAdmin(token) {
          const link = isSecretToken(token) ? admins.getSignInLink(hashSecretToken(token)) : undefined;
          return link === undefined || link.usedAt !== undefined || link.expiresAt <= Date.now() ? undefined : link.admin;
        },
      }),
      passkeys: createPasskeyRoutes({ admins, sessions, limit, domain, logger }),
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
