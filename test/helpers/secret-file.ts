import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { tempDir } from './temp.ts';

/** A stand-in for a TLS key: readable by root only, in a directory only root may enter. */
export interface SecretFile {
  dir: string;
  file: string;
  /** The file's whole text. */
  text: string;
  /** A marker unique to this secret: no error, log or release may contain it. */
  marker: string;
}

export async function secretFile(t: TestContext, name = 'key.pem'): Promise<SecretFile> {
  const root = await tempDir(t, 'berth-secret-');
  const dir = join(root, 'private');
  await mkdir(dir, { mode: 0o700 });
  const marker = `BERTH-TEST-SECRET-${randomBytes(8).toString('hex')}`;
  const text = `-----BEGIN PRIVATE KEY-----\n${marker}\n-----END PRIVATE KEY-----\n`;
  const file = join(dir, name);
  await writeFile(file, text, { mode: 0o600 });
  await chmod(dir, 0o700);
  return { dir, file, text, marker };
}

/** Asserts a text (an error message, a log) quotes nothing of the secret. */
export function assertNotQuoted(text: string, secret: SecretFile): void {
  assert.ok(!text.includes(secret.marker), `the secret's marker appears in: ${text}`);
  assert.ok(!text.includes('PRIVATE KEY'), `the secret's first line appears in: ${text}`);
}

/** Asserts that no file under `dir` (a data dir: releases, logs, state.db) contains the secret's marker. */
export async function assertNoSecretUnder(dir: string, secret: SecretFile): Promise<void> {
  const names = await readdir(dir, { recursive: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  for (const name of names) {
    const path = join(dir, name);
    if (!(await lstat(path)).isFile()) continue;
    const content = await readFile(path);
    assert.ok(!content.includes(secret.marker), `${path} contains the secret`);
  }
}
