/**
 * Error codes are a documented API: the `ErrorCode` union in src/errors.ts,
 * the codes the source actually throws, and the headings of docs/errors.md
 * must name the same set.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

async function errorCodeUnion(): Promise<string[]> {
  const source = await readFile(join(ROOT, 'src', 'errors.ts'), 'utf8');
  const union = /export type ErrorCode =([^;]*);/.exec(source)?.[1];
  assert.ok(union !== undefined, 'src/errors.ts declares `export type ErrorCode = …;`');
  const codes = [...union.matchAll(/'([^']*)'/g)].map((match) => match[1] as string);
  assert.ok(codes.length > 0, 'the ErrorCode union lists codes');
  for (const code of codes) assert.match(code, /^E_[A-Z][A-Z0-9_]*$/, `${code} looks like an error code`);
  assert.equal(new Set(codes).size, codes.length, 'no code is listed twice');
  return codes;
}

/** Every `.ts` file under src/, with its text. */
async function sourceFiles(): Promise<Array<{ file: string; text: string }>> {
  const names = await readdir(join(ROOT, 'src'), { recursive: true });
  const files = names.filter((name) => name.endsWith('.ts')).sort();
  return Promise.all(files.map(async (file) => ({ file: join('src', file), text: await readFile(join(ROOT, 'src', file), 'utf8') })));
}

async function documentedCodes(): Promise<string[]> {
  const doc = await readFile(join(ROOT, 'docs', 'errors.md'), 'utf8');
  return [...doc.matchAll(/^#{2,4} (E_[A-Z0-9_]+)\s*$/gm)].map((match) => match[1] as string);
}

test('every error code has its own heading in docs/errors.md', async () => {
  const codes = await errorCodeUnion();
  const documented = await documentedCodes();
  const missing = codes.filter((code) => !documented.includes(code));
  assert.deepEqual(missing, [], `add a "### E_…" section to docs/errors.md for: ${missing.join(', ')}`);
});

test('docs/errors.md documents no code that does not exist, and each only once', async () => {
  const codes = await errorCodeUnion();
  const documented = await documentedCodes();
  const unknown = documented.filter((code) => !codes.includes(code));
  assert.deepEqual(unknown, [], 'headings for codes missing from the ErrorCode union');
  assert.equal(new Set(documented).size, documented.length, 'each code has one section');
});

test('every code thrown in src/ is in the ErrorCode union', async () => {
  const codes = new Set(await errorCodeUnion());
  const thrown: Array<{ file: string; code: string }> = [];
  const quoted: Array<{ file: string; code: string }> = [];
  for (const { file, text } of await sourceFiles()) {
    for (const match of text.matchAll(/BerthError\(\s*'(E_[A-Z0-9_]*)'/g)) thrown.push({ file, code: match[1] as string });
    // Codes also travel as plain literals (`cond ? 'E_A' : 'E_B'`, `error.code === 'E_X'`).
    for (const match of text.matchAll(/'(E_[A-Z0-9_]*)'/g)) quoted.push({ file, code: match[1] as string });
  }
  assert.ok(thrown.length > 0, "found `new BerthError('E_…'` in src/");
  const stray = [...thrown, ...quoted].filter(({ code }) => !codes.has(code)).map(({ file, code }) => `${file}: ${code}`);
  assert.deepEqual(stray, [], 'codes used in src/ but missing from the ErrorCode union in src/errors.ts');
});

test('docs/errors.md covers the exit codes and the HTTP statuses for bad requests', async () => {
  const doc = await readFile(join(ROOT, 'docs', 'errors.md'), 'utf8');
  for (const exit of ['0', '1', '2']) assert.match(doc, new RegExp(`^\\| \`${exit}\` \\|`, 'm'), `exit code ${exit}`);
  for (const status of [400, 405, 416, 421, 431, 503]) assert.match(doc, new RegExp(`^\\| \`${status} [A-Z]`, 'm'), `HTTP ${status}`);
});
