import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import { BerthError } from '../../errors.ts';
import type { DeployRecord } from '../../deploy/deploy-types.ts';
import { SHOWN_STATES, shownState, type Serving, type ShownState } from '../../deploy/shown-state.ts';
import { activeReleaseId } from '../../releases/release-list.ts';
import { sitePaths } from '../../releases/site-paths.ts';
import { openStateStore } from '../../state/state-store.ts';
import { configOption, type Command } from '../command.ts';
import { fitWidth, formatAge, formatDuration, formatLocalTime } from '../format.ts';
import { selectSite, siteOption } from '../site-option.ts';

/** Rows read to find `--limit` of one `--state`: the history Berth keeps is bounded (see [deploy] keep_deploys). */
const SCAN_LIMIT = 10_000;

const deploys: Command = {
  name: 'deploys',
  summary: 'deploy history, newest first',
  usage: 'deploys [--site S] [--state STATE] [--limit N] [--json]',
  details: `One line per deploy: its id (for \`berth logs ID\`), the site, its state,
when it was made (local time and age), what triggered it, the commit, its
author and the first line of its message, how long it took, and for one
that failed, the error code (docs/errors.md).

States: only the deploy whose release the site serves now is "live"; an
earlier one that went live is "superseded" (a newer release went live since)
or "rolled back" (an older release was made live again after it). Also
queued, building, publishing, failed, cancelled, skipped (the commit was
already live) and superseded (a newer push replaced it before it ran).

Options:
  --site, -s S       only this site
  --state STATE      only deploys in this state (one of the above; "rolled-back" also works)
  --limit, -n N      how many (default 20)
  --json             print JSON: every stored field, plus "shownState" and "serving"
  --config, -c FILE  the config file`,
  maxPositionals: 0,
  options: { ...configOption, ...siteOption, limit: { type: 'string', short: 'n' }, state: { type: 'string' }, json: { type: 'boolean' } },
  async run(args, io) {
    const limitText = (args.values.limit as string | undefined) ?? '20';
    const limit = Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new BerthError('E_USAGE', `--limit "${limitText}" is not a number from 1 to 10000`);
    const wanted = parseState(args.values.state as string | undefined);
    // Reading needs no secret: a shell without the server's environment still reads the history.
    const config = await loadConfig(findConfigPath(args.values.config as string | undefined, io.env, io.cwd), io.env, { secrets: 'optional' });
    const site = args.values.site as string | undefined;
    // Without --site the history of every site is shown; with it, the name must be configured.
    if (site !== undefined) selectSite(config, site);
    const store = openStateStore(config.dataDir);
    let rows: Array<{ record: DeployRecord; shown: ShownState }>;
    try {
      const records = store.listDeploys({ site, limit: wanted === undefined ? limit : SCAN_LIMIT, ...(wanted === undefined ? {} : { states: rawStates(wanted) }) });
      const serving = new Map<string, Serving>();
      for (const name of new Set(records.map((record) => record.site))) {
        const release = await activeReleaseId(sitePaths(config.dataDir, name));
        serving.set(name, { release, deploy: store.servingDeploy(name, release) });
      }
      rows = records.map((record) => ({ record, shown: shownState(record, serving.get(record.site) ?? { release: undefined, deploy: undefined }) }));
    } finally {
      store.close();
    }
    if (wanted !== undefined) rows = rows.filter((row) => row.shown === wanted).slice(0, limit);
    if (args.values.json === true) {
      io.stdout.write(`${JSON.stringify(rows.map(({ record, shown }) => ({ ...record, shownState: shown, serving: shown === 'live' })), null, 2)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      io.stdout.write(wanted === undefined ? 'No deploys yet\n' : `No deploys in the state "${wanted}"\n`);
      return 0;
    }
    const now = new Date();
    const siteWidth = site === undefined ? Math.max(4, ...rows.map(({ record }) => record.site.length)) : 0;
    io.stdout.write(`${header(rows[0]?.record.id.length ?? 0, siteWidth)}\n`);
    for (const { record, shown } of rows) io.stdout.write(`${formatRow(record, shown, now, siteWidth)}\n`);
    return 0;
  },
};

function parseState(text: string | undefined): ShownState | undefined {
  if (text === undefined) return undefined;
  const state = text.replace('-', ' ') as ShownState;
  if (!SHOWN_STATES.includes(state)) throw new BerthError('E_USAGE', `--state ${JSON.stringify(text)} is not a state; use one of ${SHOWN_STATES.join(', ')}`);
  return state;
}

/** The stored states a shown one comes from. */
function rawStates(shown: ShownState): DeployRecord['state'][] {
  if (shown === 'live' || shown === 'rolled back') return ['live'];
  if (shown === 'superseded') return ['live', 'superseded'];
  return [shown];
}

function header(idWidth: number, siteWidth: number): string {
  const cells = ['ID'.padEnd(idWidth), ...(siteWidth > 0 ? ['SITE'.padEnd(siteWidth)] : []), 'STATE'.padEnd(11), 'WHEN'.padEnd(29), 'TRIGGER ', 'COMMIT ', 'AUTHOR'.padEnd(16), 'TOOK'.padStart(10), 'MESSAGE'];
  return cells.join('  ');
}

function formatRow(record: DeployRecord, shown: ShownState, now: Date, siteWidth: number): string {
  const created = new Date(record.createdAt);
  const when = `${formatLocalTime(created)} (${formatAge(created, now)})`;
  const took = record.startedAt !== undefined && record.finishedAt !== undefined ? formatDuration(Date.parse(record.finishedAt) - Date.parse(record.startedAt)) : '';
  const subject = (record.message ?? '').split('\n', 1)[0]?.trim() ?? '';
  const cells = [
    record.id,
    ...(siteWidth > 0 ? [record.site.padEnd(siteWidth)] : []),
    shown.padEnd(11),
    when.padEnd(29),
    record.trigger.padEnd(8),
    (record.sha ?? '').slice(0, 7).padEnd(7),
    fitWidth(record.author ?? '', 16).padEnd(16),
    took.padStart(10),
    fitWidth(subject, 50),
  ];
  const error = record.state === 'failed' || record.state === 'cancelled' ? `  ${record.errorCode ?? ''}` : '';
  return `${cells.join('  ')}${error}`.trimEnd();
}

export default deploys;
