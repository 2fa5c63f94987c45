import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StatusForge } from '../../src/status/commit-status.ts';
import { createStatusClient } from '../../src/status/create-status-client.ts';

describe('createStatusClient', () => {
  for (const forge of ['github', 'gitlab', 'gitea', 'forgejo', 'bitbucket'] as StatusForge[]) {
    it(`gives the ${forge} client for a ${forge} target`, () => {
      const client = createStatusClient({ forge, apiBase: 'https://git.example.com/api', repo: 'jo/blog' }, 'token');
      assert.equal(client.forge, forge);
    });
  }
});
