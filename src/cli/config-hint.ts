import { shellWord } from '../shell-quote.ts';

/**
 * What a command's printed hint needs to name the same config: ` --config
 * PATH` when this command was given one with --config (another directory's
 * shell would not find it), nothing when it was found as ./berth.toml or
 * through $BERTH_CONFIG, which the same shell finds again.
 */
export function configHint(flag: string | boolean | Array<string | boolean> | undefined, configPath: string): string {
  return typeof flag === 'string' ? ` --config ${shellWord(configPath)}` : '';
}
