import { join } from 'node:path';
import { sitePaths } from '../releases/site-paths.ts';

/** Where a deploy's checkout and build happen: `data_dir/sites/<site>/work/<deploy>`; removed when it ends. */
export function workDirFor(dataDir: string, site: string, deployId: string): string {
  return join(sitePaths(dataDir, site).siteDir, 'work', deployId);
}
