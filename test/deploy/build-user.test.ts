import assert from 'node:assert/strict';
import { chmod, chown } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BerthError } from '../../src/errors.ts';
import { runBuild } from '../../src/deploy/build-runner.ts';
import { BUILD_UID_SLOTS, buildGroups, buildUids, buildUserFor } from '../../src/deploy/build-user.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';

const BASE = 200_000;

describe('buildUids()', () => {
  it('gives every site a different uid in the range, however many sites share a slot', () => {
    const names = Array.from({ length: 3000 }, (_, index) => `site-${index}`);
    const uids = buildUids(names, BASE);
    assert.equal(uids.size, names.length);
    assert.equal(new Set(uids.values()).size, names.length);
    for (const uid of uids.values()) assert.ok(uid >= BASE && uid < BASE + BUILD_UID_SLOTS, String(uid));
  });

  it('does not depend on the order of the sites, and a new site leaves the others\' uids alone', () => {
    const before = buildUids(['blog', 'docs', 'shop'], BASE);
    assert.deepEqual(buildUids(['shop', 'blog', 'docs'], BASE), before);
    const after = buildUids(['blog', 'docs', 'shop', 'wiki'], BASE);
    for (const name of ['blog', 'docs', 'shop']) assert.equal(after.get(name), before.get(name));
    assert.equal(buildUids(['blog'], 300_000).get('blog'), (before.get('blog') ?? 0) + 100_000);
  });

  it('counts a name listed twice once', () => {
    assert.deepEqual([...buildUids(['blog', 'blog'], BASE).keys()], ['blog']);
  });
});

describe('buildUserFor()', () => {
  it('is undefined when Berth is not root: builds then run as Berth\'s own user', () => {
    assert.equal(buildUserFor('blog', { sites: ['blog'], base: BASE, berthUid: 1000 }), undefined);
    assert.equal(buildGroups(['blog'], BASE, 1000), undefined);
  });

  it('gives each site as root a uid and gid of its own, never root\'s', async (t) => {
    const dir = await tempDir(t, 'berth-passwd-');
    await writeTree(dir, { passwd: 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/:/bin/false\n' });
    const options = { sites: ['blog', 'docs'], base: BASE, berthUid: 0, passwdFile: join(dir, 'passwd') };
    const blog = buildUserFor('blog', options);
    const docs = buildUserFor('docs', options);
    assert.ok(blog !== undefined && docs !== undefined);
    assert.equal(blog.gid, blog.uid);
    assert.notEqual(blog.uid, docs.uid);
    assert.notEqual(blog.uid, 0);
    assert.equal(buildGroups(['blog', 'docs'], BASE, 0)?.get('docs'), docs.gid);
  });

  it('refuses a uid that belongs to an account, naming the account and the setting to change', async (t) => {
    const dir = await tempDir(t, 'berth-passwd-');
    const uid = buildUids(['blog'], BASE).get('blog');
    await writeTree(dir, { passwd: `root:x:0:0:root:/root:/bin/bash\nalice:x:${uid}:${uid}::/home/alice:/bin/sh\n` });
    assert.throws(
      () => buildUserFor('blog', { sites: ['blog'], base: BASE, berthUid: 0, passwdFile: join(dir, 'passwd') }),
      (error) => error instanceof BerthError && error.code === 'E_BUILD_CONFIG' && error.message.includes('"alice"') && error.message.includes('build_uid_base'),
    );
  });

  it('runs two sites\' builds as two different uids, with their own gid and no other group', async (t) => {
    const ids: string[][] = [];
    for (const site of ['blog', 'docs']) {
      const user = buildUserFor(site, { sites: ['blog', 'docs'], base: BASE });
      assert.ok(user !== undefined, 'the tests run as root, so builds get their own uid');
      const work = await tempDir(t, 'berth-user-');
      await chmod(work, 0o700);
      await chown(work, user.uid, user.gid);
      const lines: string[] = [];
      await runBuild({
        command: 'id -u; id -g; id -G; touch written-by-build && echo ok',
        cwd: work,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        timeoutMs: 10_000,
        log: (_stream, line) => lines.push(line),
        uid: user.uid,
        gid: user.gid,
      });
      assert.deepEqual(lines, [String(user.uid), String(user.gid), String(user.gid), 'ok']);
      ids.push(lines);
    }
    const [blog, docs] = ids;
    assert.notEqual(blog?.[0], docs?.[0]);
    assert.ok(![blog?.[0], docs?.[0]].includes('0'));
  });
});
