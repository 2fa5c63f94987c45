import { join } from 'node:path';

/**
 * Where the control plane serves the dashboard and the API: a Unix socket in
 * the data dir, private to the service user like everything there. The
 * serving workers forward the `[admin] domain`'s requests to it; nothing
 * else can reach it.
 */
export function adminSocketPath(dataDir: string): string {
  return join(dataDir, 'admin.sock');
}

/**
 * Headers the workers set on what they forward, and the admin app believes
 * from its socket only: any a client sent under these names is dropped first.
 */
export const FORWARDED_FOR = 'x-berth-client-address';
export const FORWARDED_PROTO = 'x-berth-client-proto';
