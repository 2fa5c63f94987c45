import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { renderJsonSchema, SCHEMA_PATH } from '../../scripts/write-json-schema.ts';

describe('berth.schema.json', () => {
  it('matches the zod schema (run `npm run schema` after changing it)', async () => {
    const committed = await readFile(SCHEMA_PATH, 'utf8');
    assert.equal(committed, renderJsonSchema());
  });

  it('describes every key and forbids unknown ones', () => {
    const schema = JSON.parse(renderJsonSchema()) as JsonSchema;
    const visit = (node: JsonSchema, where: string): void => {
      if (node.type === 'object' && node.properties !== undefined) {
        assert.equal(node.additionalProperties, false, `${where} allows unknown keys`);
        for (const [key, child] of Object.entries(node.properties)) {
          assert.ok(child.description, `${where}.${key} has no description`);
          visit(child, `${where}.${key}`);
        }
      }
      if (node.items !== undefined) visit(node.items, `${where}[]`);
    };
    visit(schema, 'berth.toml');
    assert.deepEqual(schema.properties?.sites?.items?.required, ['name', 'domains']);
    assert.equal(schema.properties?.server?.properties?.headers_timeout?.default, '10s');
  });
});

interface JsonSchema {
  type?: string;
  description?: string;
  default?: unknown;
  required?: string[];
  additionalProperties?: unknown;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
}
