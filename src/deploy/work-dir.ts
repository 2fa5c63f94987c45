import { join } from 'node:path';
import { sitePaths } from '../releases/site-paths.ts';

/** Where a deploy's checkout and build happen: `data_dir/sites/<site>/work/<deploy>`; removed when it ends. */
export function workDirFor(dataDir: string, site: string, deployId: string): string {
  return join(sitePaths(dataDir, site).siteDir, 'work', deployId);
}

/** The form Berth gives deploy ids (`20261127T085500Z-1a2b3c`, see state-store.ts): no separator, no `..`, no name of anything else. */
const DEPLOY_ID = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

export function isDeployId(id: unknown): id is string {
  return typeof id === 'string' && DEPLOY_ID.test(id);
}
