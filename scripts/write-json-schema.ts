/**
 * Writes berth.schema.json, the JSON Schema of berth.toml, from the zod schema
 * in src/config/config-schema.ts. Editors with a TOML language server (Taplo,
 * "Even Better TOML") use it for completion and checks. Run `npm run schema`
 * after changing the schema; test/config/json-schema.test.ts fails until the
 * committed file matches.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { configSchema } from '../src/config/config-schema.ts';

export const SCHEMA_PATH = fileURLToPath(new URL('../berth.schema.json', import.meta.url));

/** The schema as the text of berth.schema.json, ending in a newline. */
export function renderJsonSchema(): string {
  // Draft 7 because editor tooling supports it most widely. The input side of
  // the schema is what a person writes: "10s", not 10000.
  const generated = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-07' });
  const { $schema, ...rest } = generated;
  return `${JSON.stringify({ $schema, title: 'berth.toml', ...rest }, null, 2)}\n`;
}

if (import.meta.main) {
  await writeFile(SCHEMA_PATH, renderJsonSchema());
  console.log(`wrote ${SCHEMA_PATH}`);
}
