import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerthError } from '../../src/errors.ts';
import type { ForgeTarget } from '../../src/status/commit-status.ts';
import { forgeTargetFromRepo, type ForgeTargetOptions } from '../../src/status/forge-target.ts';

function refused(repo: string, options: ForgeTargetOptions, pattern: RegExp): BerthError {
  let caught: unknown;
  try {
    forgeTargetFromRepo(repo, options);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof BerthError, `${repo} is refused with a BerthError`);
  assert.equal(caught.code, 'E_STATUS_CONFIG');
  assert.match(caught.message, pattern);
  return caught;
}

describe('forgeTargetFromRepo', () => {
  const cases: Array<[string, ForgeTargetOptions, ForgeTarget]> = [
    ['https://github.com/jo/blog.git', {}, { forge: 'github', apiBase: 'https://api.github.com', repo: 'jo/blog' }],
    ['https://github.com/jo/blog', {}, { forge: 'github', apiBase: 'https://api.github.com', repo: 'jo/blog' }],
    ['https://GitHub.com/jo/blog/', {}, { forge: 'github', apiBase: 'https://api.github.com', repo: 'jo/blog' }],
    ['git@github.com:jo/blog.git', {}, { forge: 'github', apiBase: 'https://api.github.com', repo: 'jo/blog' }],
    ['ssh://git@github.com/jo/blog.git', {}, { forge: 'github', apiBase: 'https://api.github.com', repo: 'jo/blog' }],
    ['https://gitlab.com/group/sub/project.git', {}, { forge: 'gitlab', apiBase: 'https://gitlab.com/api/v4', repo: 'group/sub/project' }],
    ['git@gitlab.com:group/project.git', {}, { forge: 'gitlab', apiBase: 'https://gitlab.com/api/v4', repo: 'group/project' }],
    ['https://bitbucket.org/jo-team/blog.git', {}, { forge: 'bitbucket', apiBase: 'https://api.bitbucket.org/2.0', repo: 'jo-team/blog' }],
    ['git@bitbucket.org:jo-team/blog.git', {}, { forge: 'bitbucket', apiBase: 'https://api.bitbucket.org/2.0', repo: 'jo-team/blog' }],
    ['https://codeberg.org/jo/blog.git', {}, { forge: 'forgejo', apiBase: 'https://codeberg.org/api/v1', repo: 'jo/blog' }],
    ['https://codeberg.org/jo/blog.git', { forge: 'gitea' }, { forge: 'gitea', apiBase: 'https://codeberg.org/api/v1', repo: 'jo/blog' }],
    // Self-hosted: the forge is given, the API is where that forge keeps it.
    ['https://git.example.com/jo/blog.git', { forge: 'gitea' }, { forge: 'gitea', apiBase: 'https://git.example.com/api/v1', repo: 'jo/blog' }],
    ['ssh://git@git.example.com:2222/jo/blog.git', { forge: 'forgejo' }, { forge: 'forgejo', apiBase: 'https://git.example.com/api/v1', repo: 'jo/blog' }],
    ['http://git.lan:3000/jo/blog.git', { forge: 'gitea' }, { forge: 'gitea', apiBase: 'http://git.lan:3000/api/v1', repo: 'jo/blog' }],
    ['git@gitlab.example.com:web/sites/blog.git', { forge: 'gitlab' }, { forge: 'gitlab', apiBase: 'https://gitlab.example.com/api/v4', repo: 'web/sites/blog' }],
    ['https://ghe.example.com/jo/blog.git', { forge: 'github' }, { forge: 'github', apiBase: 'https://ghe.example.com/api/v3', repo: 'jo/blog' }],
    // `api` wins, without its trailing slash.
    ['https://git.example.com/jo/blog.git', { forge: 'gitea', api: 'https://api.git.example.com/v1/' }, { forge: 'gitea', apiBase: 'https://api.git.example.com/v1', repo: 'jo/blog' }],
    ['https://bitbucket.org/jo-team/blog', { api: 'http://127.0.0.1:8080/2.0' }, { forge: 'bitbucket', apiBase: 'http://127.0.0.1:8080/2.0', repo: 'jo-team/blog' }],
  ];
  for (const [repo, options, expected] of cases) {
    it(`reads ${repo}${options.forge === undefined ? '' : ` with forge ${options.forge}`}${options.api === undefined ? '' : ` and api ${options.api}`}`, () => {
      assert.deepEqual(forgeTargetFromRepo(repo, options), expected);
    });
  }

  it('needs forge for a host it does not know, and says so', () => {
    refused('https://git.example.com/jo/blog.git', {}, /cannot tell which forge git\.example\.com runs; set forge/);
  });

  it('refuses a forge that contradicts a well-known host', () => {
    refused('https://github.com/jo/blog.git', { forge: 'gitlab' }, /github\.com, which runs github, but forge says gitlab/);
  });

  it('refuses local repositories', () => {
    refused('/srv/git/blog.git', {}, /local path/);
    refused('./blog', {}, /local path/);
    refused('file:///srv/git/blog.git', {}, /file:\/\//);
  });

  it('refuses a URL without owner and repository', () => {
    refused('https://github.com/', {}, /names no owner and repository/);
    refused('https://github.com/jo', {}, /not owner\/repository/);
    refused('https://gitlab.com/project', {}, /not group\/project/);
    refused('https://github.com/jo/blog/tree/main', {}, /not owner\/repository/);
  });

  it('refuses URLs with credentials without repeating them', () => {
    const secret = 'ghp_n0tARealT0kenButL00ksLikeOne1234';
    for (const repo of [
      `https://${secret}@github.com/jo/blog.git`,
      `https://x-access-token:${secret}@github.com/jo/blog.git`,
      `https://jo:${secret}@git.example.com/jo/blog.git`,
      `ssh://git:${secret}@github.com/jo/blog.git`,
      `jo:${secret}@github.com:jo/blog.git`,
      `https://github.com/jo/blog.git?access_token=${secret}`,
    ]) {
      const error = refused(repo, { forge: 'gitea' }, /credentials|not repeated/);
      assert.ok(!error.message.includes(secret), `the message for ${repo.slice(0, 12)}… does not carry the secret: ${error.message}`);
    }
  });

  it('refuses an api that is not an http(s) URL or carries credentials', () => {
    refused('https://git.example.com/jo/blog.git', { forge: 'gitea', api: 'git.example.com/api/v1' }, /api is not a URL/);
    refused('https://git.example.com/jo/blog.git', { forge: 'gitea', api: 'ftp://git.example.com/api' }, /http:\/\/ or https:\/\//);
    const error = refused('https://git.example.com/jo/blog.git', { forge: 'gitea', api: 'https://jo:hunter22@git.example.com/api/v1' }, /credentials/);
    assert.ok(!error.message.includes('hunter22'));
  });

  it('needs api for Bitbucket anywhere but bitbucket.org', () => {
    refused('https://bitbucket.example.com/jo/blog.git', { forge: 'bitbucket' }, /Bitbucket Cloud/);
  });
});
