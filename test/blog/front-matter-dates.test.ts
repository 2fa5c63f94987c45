import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cp, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { BLOG_DIR, buildBlog } from '../helpers/blog.ts';
import { tempDir } from '../helpers/temp.ts';

/** The starter blog with one more post, built with the packages of the cached build; the build's exit code and output. */
async function buildWithPost(t: TestContext, post: string): Promise<{ status: number | null; output: string }> {
  const built = dirname(await buildBlog());
  const dir = await tempDir(t);
  const generated = new Set(['node_modules', 'dist', '.astro']);
  await cp(BLOG_DIR, dir, { recursive: true, filter: (from) => !generated.has(relative(BLOG_DIR, from).split('/')[0] ?? '') });
  await symlink(join(built, 'node_modules'), join(dir, 'node_modules'));
  await writeFile(join(dir, 'src', 'content', 'blog', 'new-post.md'), post);
  const env = { ...process.env, ASTRO_TELEMETRY_DISABLED: '1', CI: 'true', PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
  const result = spawnSync('npm', ['run', 'build'], { cwd: dir, env, encoding: 'utf8', timeout: 300_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const post = (dates: string): string => `---\ntitle: A new post\ndescription: A post whose dates are checked.\n${dates}\n---\n\nText.\n`;

describe('the starter blog\'s front matter dates', () => {
  it('fails the build on a month or day that does not exist, naming the file and the field', { timeout: 600_000 }, async (t) => {
    const month = await buildWithPost(t, post('pubDate: 2026-13-45'));
    assert.notEqual(month.status, 0, 'the build fails');
    assert.match(month.output, /src\/content\/blog\/new-post\.md: pubDate 2026-13-45 is not a date .*write it as YYYY-MM-DD/);
    const day = await buildWithPost(t, post('pubDate: 2026-02-27\nupdatedDate: "2026-02-30"'));
    assert.notEqual(day.status, 0);
    assert.match(day.output, /new-post\.md: updatedDate 2026-02-30 is not a date/);
  });

  it('builds a post whose dates exist, a leap day included', { timeout: 600_000 }, async (t) => {
    const good = await buildWithPost(t, post('pubDate: 2028-02-29\nupdatedDate: 2028-03-01'));
    assert.equal(good.status, 0, good.output.slice(-3000));
  });
});
