import { resolve } from 'node:path';
import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import { BerthError } from '../../errors.ts';
import { publishRelease } from '../../releases/publish.ts';
import { configOption, type Command } from '../command.ts';
import { formatBytes } from '../format.ts';
import { selectSite, siteOption } from '../site-option.ts';

const publish: Command = {
  name: 'publish',
  summary: 'publish a directory as a new release of a site and make it live',
  usage: 'publish <dir> --site S [--no-activate]',
  details: `Copies <dir> (a build's output) into a new immutable release, hard-linking
files unchanged since the previous release, precompressing text files, and
switches the site to it atomically. A running \`berth serve\` picks it up at once.
_redirects and _headers in <dir> are checked first; an invalid line fails the
publish and the live release is untouched.

Options:
  --site, -s S       the site (may be left out when the config has one site)
  --no-activate      publish without making the release live
  --config, -c FILE  the config file (default ./berth.toml, then $BERTH_CONFIG)`,
  maxPositionals: 1,
  options: { ...configOption, ...siteOption, 'no-activate': { type: 'boolean' } },
  async run(args, io) {
    const dir = args.positionals[0];
    if (dir === undefined || args.positionals.length > 1) {
      throw new BerthError('E_USAGE', 'publish takes exactly one directory, e.g. `berth publish dist --site blog`');
    }
    const config = await loadConfig(findConfigPath(args.values.config as string | undefined, io.env, io.cwd), io.env);
    const site = selectSite(config, args.values.site as string | undefined);
    const tty = (io.stderr as NodeJS.WriteStream).isTTY === true;
    let lastShown = 0;
    const result = await publishRelease({
      dataDir: config.dataDir,
      site: site.name,
      sourceDir: resolve(io.cwd, dir),
      retain: site.retain,
      activate: args.values['no-activate'] !== true,
      onProgress: tty
        ? (done, total) => {
            const now = Date.now();
            if (now - lastShown < 100 && done < total) return;
            lastShown = now;
            io.stderr.write(`\rpublishing ${done}/${total} files`);
            if (done === total) io.stderr.write('\n');
          }
        : undefined,
    });
    const live = args.values['no-activate'] === true ? 'not activated' : 'live';
    io.stdout.write(
      `Published ${site.name} release ${result.id} (${live}): ${result.files} files, ${formatBytes(result.bytes)}, ` +
        `${result.unchanged} unchanged (not read), ${result.stored} new to the store, ${result.compressed} precompressed, in ${result.durationMs} ms\n`,
    );
    if (result.pruned.length > 0) io.stdout.write(`Removed old releases: ${result.pruned.join(', ')}\n`);
    return 0;
  },
};

export default publish;
