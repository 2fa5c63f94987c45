import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { type ConfigProblem, readConfig } from '../../src/config/load-config.ts';

/**
 * Config test cases, each in a fresh directory under one temporary root
 * that the calling test file makes before its tests and removes after them.
 */
export function configCases(prefix: string): {
  /** The root; valid once the file's tests run. */
  root(): string;
  /** Writes `berth.toml` (and any other files) into a fresh directory and reads it. */
  read(toml: string | Buffer, env?: NodeJS.ProcessEnv, files?: Record<string, string>): Promise<{ dir: string; file: string } & Awaited<ReturnType<typeof readConfig>>>;
} {
  let root = '';
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), prefix));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  return {
    root: () => root,
    read: async (toml, env = {}, files = {}) => {
      const dir = await mkdtemp(path.join(root, 'case-'));
      for (const [name, content] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
        await writeFile(path.join(dir, name), content);
      }
      const file = path.join(dir, 'berth.toml');
      await writeFile(file, toml);
      return { dir, file, ...(await readConfig(file, env)) };
    },
  };
}

/** The problem reported at key path `at`; fails listing every problem when there is none. */
export function problemAt(problems: readonly ConfigProblem[], at: string): ConfigProblem {
  const found = problems.find((problem) => problem.path === at);
  assert.ok(found, `no problem at ${at}; got:\n${problems.map((p) => `${p.line} ${p.path}: ${p.message}`).join('\n')}`);
  return found;
}
