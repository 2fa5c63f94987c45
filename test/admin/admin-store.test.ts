import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { openAdminStore } from '../../src/admin/admin-store.ts';
import { openStateStore } from '../../src/state/state-store.ts';
import { tempDir } from '../helpers/temp.ts';

describe('admin store', () => {
  it('shares state.db with the deploy history, whichever is opened first, and makes it 0600', async (t) => {
    for (const first of ['admins', 'deploys'] as const) {
      const dataDir = await tempDir(t, 'berth-admin-store-');
      const openedFirst = first === 'admins' ? openAdminStore(dataDir) : openStateStore(dataDir);
      const admins = first === 'admins' ? (openedFirst as ReturnType<typeof openAdminStore>) : openAdminStore(dataDir);
      const deploys = first === 'deploys' ? (openedFirst as ReturnType<typeof openStateStore>) : openStateStore(dataDir);
      try {
        admins.addAdmin({ name: 'alice', passwordHash: undefined, createdAt: 1 });
        const deploy = deploys.createDeploy({ site: 'blog', trigger: 'cli', ref: 'main' });
        assert.equal(deploys.getDeploy(deploy.id)?.site, 'blog', first);
        assert.deepEqual(admins.listAdmins().map((admin) => admin.name), ['alice'], first);
        assert.equal((await stat(join(dataDir, 'state.db'))).mode & 0o777, 0o600, first);
      } finally {
        admins.close();
        deploys.close();
      }
      const reopened = openAdminStore(dataDir);
      assert.equal(reopened.getAdmin('alice')?.createdAt, 1);
      reopened.close();
    }
  });

  it('refuses a second admin of the same name', async (t) => {
    const dataDir = await tempDir(t, 'berth-admin-store-');
    const store = openAdminStore(dataDir);
    t.after(() => store.close());
    store.addAdmin({ name: 'alice', passwordHash: undefined, createdAt: 1 });
    assert.throws(() => store.addAdmin({ name: 'alice', passwordHash: undefined, createdAt: 2 }), { code: 'E_ADMIN_EXISTS' });
    assert.throws(() => store.setPasswordHash('bob', 'x'), { code: 'E_ADMIN_UNKNOWN' });
  });
});
