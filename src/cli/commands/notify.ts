import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import { BerthError } from '../../errors.ts';
import { openDeliveryResults, type ChannelResult } from '../../notify/delivery-results.ts';
import { configOption, type Command } from '../command.ts';
import { fitWidth, formatAge, formatLocalTime } from '../format.ts';

const notify: Command = {
  name: 'notify',
  summary: 'the notification channels and how their last deliveries went',
  usage: 'notify status [--json]',
  details: `One line per [[notify]] channel: its name and type, the events it gets,
when it was last sent something and how that went (with the HTTP status or
the error, never the channel's URL or secret), when it last succeeded, and
how many attempts failed since. A channel that failed is retried by the
server for up to an hour (docs/notifications.md); a delivery still being
retried shows "retrying".

Options:
  --json             print JSON: each channel with its last attempt
  --config, -c FILE  the config file`,
  maxPositionals: 1,
  options: { ...configOption, json: { type: 'boolean' } },
  async run(args, io) {
    if (args.positionals[0] !== 'status') {
      throw new BerthError('E_USAGE', `the notify command is \`berth notify status\`${args.positionals[0] === undefined ? '' : `, not "${args.positionals[0]}"`}`);
    }
    // Reading needs no secret: a shell without the server's environment still reads the results.
    const config = await loadConfig(findConfigPath(args.values.config as string | undefined, io.env, io.cwd), io.env, { secrets: 'optional' });
    let results: ChannelResult[] = [];
    if (existsSync(join(config.dataDir, 'state.db'))) {
      const store = openDeliveryResults(config.dataDir);
      try {
        results = store.list();
      } finally {
        store.close();
      }
    }
    const byName = new Map(results.map((result) => [result.channel, result]));
    const rows = [
      ...config.notify.map((channel) => ({ name: channel.name, type: channel.kind as string, events: channel.events.join(','), inConfig: true, result: byName.get(channel.name) })),
      // Results of channels since removed from the config: still worth seeing once.
      ...results.filter((result) => !config.notify.some((channel) => channel.name === result.channel)).map((result) => ({ name: result.channel, type: '-', events: '(not in the config)', inConfig: false, result })),
    ];
    if (args.values.json === true) {
      io.stdout.write(`${JSON.stringify(rows.map(({ name, type, events, inConfig, result }) => ({ name, type, events: events.split(','), inConfig, last: result?.last, lastSuccessAt: result?.lastSuccessAt, failuresSinceSuccess: result?.failuresSinceSuccess ?? 0 })), null, 2)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      io.stdout.write('No [[notify]] channels are configured; docs/notifications.md shows how to add one\n');
      return 0;
    }
    const now = new Date();
    const table = rows.map(({ name, type, events, result }) => [
      name,
      type,
      fitWidth(events, 64),
      result === undefined ? 'never sent' : `${formatLocalTime(new Date(result.last.at))} (${formatAge(new Date(result.last.at), now)})`,
      result === undefined ? '' : outcome(result),
      result?.lastSuccessAt === undefined ? '' : formatAge(new Date(result.lastSuccessAt), now),
      result === undefined || result.failuresSinceSuccess === 0 ? '' : String(result.failuresSinceSuccess),
    ]);
    const header = ['CHANNEL', 'TYPE', 'EVENTS', 'LAST SENT', 'RESULT', 'LAST SUCCESS', 'FAILURES'];
    const widths = header.map((title, column) => Math.max(title.length, ...table.map((row) => [...(row[column] ?? '')].length)));
    for (const row of [header, ...table]) io.stdout.write(`${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()}\n`);
    return 0;
  },
};

/** "ok deploy.failed", "failed (HTTP 500), retrying: ..." */
function outcome(result: ChannelResult): string {
  const last = result.last;
  if (last.ok) return `ok ${last.eventType}`;
  const status = last.httpStatus === undefined ? '' : ` (HTTP ${last.httpStatus})`;
  return fitWidth(`failed${status}${last.willRetry ? ', retrying' : ''}: ${last.error ?? 'no reason recorded'}`, 100);
}

export default notify;
