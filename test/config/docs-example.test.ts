import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { readConfig } from '../../src/config/load-config.ts';

const DOC = path.resolve(import.meta.dirname, '../../docs/configuration.md');

describe('docs/configuration.md', () => {
  it('has a complete example that Berth accepts without a problem', async () => {
    const doc = await readFile(DOC, 'utf8');
    const section = doc.slice(doc.indexOf('## A complete example'));
    const example = /```toml\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(example, 'no toml block after "## A complete example"');
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-docs-'));
    try {
      await writeFile(path.join(dir, 'docs_webhook'), 'docs-secret-0123456789\n');
      const toml = example.replace('/run/secrets/docs_webhook', path.join(dir, 'docs_webhook'));
      await writeFile(path.join(dir, 'berth.toml'), toml);
      const { config, problems } = await readConfig(path.join(dir, 'berth.toml'), { BLOG_WEBHOOK_SECRET: 'blog-secret-0123456789' });
      assert.deepEqual(problems, []);
      assert.deepEqual(config?.sites.map((site) => site.name), ['blog', 'docs', 'status']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('documents every key of the schema', async () => {
    const doc = await readFile(DOC, 'utf8');
    const schema = JSON.parse(await readFile(path.resolve(import.meta.dirname, '../../berth.schema.json'), 'utf8')) as Node;
    const keys = new Set<string>();
    const collect = (node: Node): void => {
      for (const [key, child] of Object.entries(node.properties ?? {})) {
        keys.add(key);
        collect(child);
      }
      if (node.items !== undefined) collect(node.items);
    };
    collect(schema);
    for (const key of keys) assert.ok([`\`${key}\``, `[${key}]`, `.${key}]`].some((form) => doc.includes(form)), `${key} is not documented`);
  });
});

interface Node {
  properties?: Record<string, Node>;
  items?: Node;
}
