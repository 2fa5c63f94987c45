import { existsSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_DATA_DIR } from '../config/config-schema.ts';
import { findConfigPath, loadConfig } from '../config/load-config.ts';
import type { ResolvedConfig } from '../config/resolved-config.ts';

export interface HistoryDir {
  dataDir: string;
  /** Undefined when no config file was found and the default data dir was read instead. */
  config: ResolvedConfig | undefined;
}

/**
 * Where to read the deploy history: the config's data dir, found as every
 * command finds the config. With no config file anywhere, and none named by
 * --config or $BERTH_CONFIG,
 * the default data dir is read if it holds a history, so that `berth logs
 * ID` printed by a deploy works on the server from any directory. Reading
 * needs no secret: a shell without the server's environment still reads it.
 */
export async function historyDir(flag: string | undefined, env: NodeJS.ProcessEnv, cwd: string, defaultDataDir = DEFAULT_DATA_DIR): Promise<HistoryDir> {
  const file = findConfigPath(flag, env, cwd);
  // Never in place of a config someone named (--config, $BERTH_CONFIG) that is missing: that is their mistake to see.
  const named = flag !== undefined || (env.BERTH_CONFIG !== undefined && env.BERTH_CONFIG !== '');
  if (!named && !existsSync(file) && existsSync(path.join(defaultDataDir, 'state.db'))) return { dataDir: defaultDataDir, config: undefined };
  const config = await loadConfig(file, env, { secrets: 'optional' });
  return { dataDir: config.dataDir, config };
}
