import assert from 'node:assert/strict';

/** One sample line of the Prometheus text format, read back. */
export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedExposition {
  samples: ParsedSample[];
  /** `# TYPE` by family name. */
  types: Map<string, string>;
  help: Map<string, string>;
}

/**
 * A strict reader of the text format 0.0.4, for tests: every line must be a
 * comment of ours, or a sample of a family whose `# TYPE` came before, with
 * well-formed labels (escapes undone) and a number. Fails the test otherwise.
 */
export function parseExposition(text: string): ParsedExposition {
  const samples: ParsedSample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  assert.ok(text === '' || text.endsWith('\n'), 'the exposition ends with a line feed');
  for (const line of text.split('\n').slice(0, -1)) {
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (comment !== null) {
      const [, kind, name, rest] = comment as unknown as [string, string, string, string];
      if (kind === 'TYPE') {
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest), line);
        assert.ok(!types.has(name), `TYPE of ${name} given twice`);
        types.set(name, rest);
      } else help.set(name, rest);
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match !== null, `not a sample line: ${JSON.stringify(line)}`);
    const [, name, labelText, valueText] = match as unknown as [string, string, string | undefined, string];
    const family = [...types.keys()].find((candidate) => name === candidate || (types.get(candidate) === 'histogram' && [`${candidate}_bucket`, `${candidate}_sum`, `${candidate}_count`].includes(name)));
    assert.ok(family !== undefined, `${name} has no # TYPE before it`);
    const value = valueText === '+Inf' ? Infinity : Number(valueText);
    assert.ok(!Number.isNaN(value), `${valueText} is not a number`);
    samples.push({ name, labels: parseLabels(labelText ?? ''), value });
  }
  return { samples, types, help };
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest !== '') {
    const match = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
    assert.ok(match !== null, `bad labels: ${JSON.stringify(text)}`);
    const [whole, name, raw] = match as unknown as [string, string, string];
    assert.ok(!(name in labels), `label ${name} twice`);
    labels[name] = raw.replace(/\\(.)/g, (_, escaped: string) => (escaped === 'n' ? '\n' : escaped));
    rest = rest.slice(whole.length);
  }
  return labels;
}

/** The sum of the samples named `name` whose labels include `where`. */
export function total(parsed: ParsedExposition, name: string, where: Record<string, string> = {}): number {
  return parsed.samples
    .filter((sample) => sample.name === name && Object.entries(where).every(([key, value]) => sample.labels[key] === value))
    .reduce((sum, sample) => sum + sample.value, 0);
}
