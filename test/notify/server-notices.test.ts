import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import type { CertificatePlan } from '../../src/acme/acme-names.ts';
import type { StoredCertificate } from '../../src/acme/certificate-storage.ts';
import type { ResolvedConfig } from '../../src/config/resolved-config.ts';
import { createSecret } from '../../src/config/secret.ts';
import { startServerNotices } from '../../src/notify/server-notices.ts';
import { openStateStore } from '../../src/state/state-store.ts';
import { channel, capturedLogger, startReceiver } from './notify-fixtures.ts';

const DAY = 86_400_000;
const SECRET = createSecret(`whsec_${Buffer.alloc(32, 5).toString('base64')}`, 'test');
const PLAN: CertificatePlan = { key: 'blog.example.com', site: 'blog', names: ['blog.example.com', 'www.blog.example.com'] };

function certificate(notAfter: Date): StoredCertificate {
  return { cert: '', key: '', info: { names: [...PLAN.names], notBefore: new Date(notAfter.getTime() - 90 * DAY), notAfter, issuer: 'Test CA', serial: '01' } };
}

it('tells of a certificate about to expire once a day, each channel below its own expiring_days, and of failed orders at the first failure and then once a day', async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'berth-notices-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  await chmod(dataDir, 0o700);
  openStateStore(dataDir).close();
  const week = await startReceiver(t);
  const month = await startReceiver(t);
  const config = {
    dataDir,
    sites: [],
    server: { httpsPort: 443, httpPort: 80 },
    notify: [
      channel('webhook', week.url(), { name: 'week', secret: SECRET, expiringDays: 7, events: ['certificate.expiring', 'certificate.renewal_failed'] }),
      channel('webhook', month.url(), { name: 'month', secret: SECRET, expiringDays: 30, events: ['certificate.expiring'] }),
    ],
  } as unknown as ResolvedConfig;
  let now = new Date('2026-12-04T10:00:00Z');
  const { logger } = capturedLogger();
  const notices = startServerNotices(config, logger, () => now);
  assert.ok(notices);

  notices.certificateChecked(PLAN, certificate(new Date(now.getTime() + 60 * DAY))); // far off: nobody
  notices.certificateChecked(PLAN, certificate(new Date(now.getTime() + 20 * DAY))); // month only
  notices.certificateChecked(PLAN, certificate(new Date(now.getTime() + 20 * DAY))); // the same day again: nobody
  now = new Date(now.getTime() + DAY);
  notices.certificateChecked(PLAN, certificate(new Date(now.getTime() + 5 * DAY))); // the next day, 5 days: both
  notices.certificateChecked(PLAN, undefined); // nothing served: not an expiry
  const failure = { code: 'E_ACME_ORDER', message: 'the CA refused: rate limited', serving: certificate(new Date(now.getTime() + 5 * DAY)) };
  notices.renewalFailed(PLAN, { ...failure, attempt: 1 });
  notices.renewalFailed(PLAN, { ...failure, attempt: 2 }); // retried minutes later, the same day: not told again
  now = new Date(now.getTime() + DAY);
  notices.renewalFailed(PLAN, { ...failure, attempt: 9 }); // still failing the next day: told once more
  await notices.close(10_000);

  const types = (receiver: typeof week): Array<[string, number | undefined]> =>
    receiver.requests.map((request) => JSON.parse(request.body) as { type: string; certificate?: { daysLeft?: number } }).map((event) => [event.type, event.certificate?.daysLeft]);
  assert.deepEqual(types(month), [['certificate.expiring', 20], ['certificate.expiring', 5]]);
  assert.deepEqual(types(week), [['certificate.expiring', 5], ['certificate.renewal_failed', 5], ['certificate.renewal_failed', 4]]);
  const failed = JSON.parse(week.requests[1]?.body ?? '{}') as { site: string; certificate: { names: string[]; errorCode: string; errorMessage: string } };
  assert.equal(failed.site, 'blog');
  assert.deepEqual(failed.certificate.names, PLAN.names);
  assert.equal(failed.certificate.errorCode, 'E_ACME_ORDER');
  assert.equal(failed.certificate.errorMessage, 'the CA refused: rate limited');
});

it('is nothing at all without channels', () => {
  assert.equal(startServerNotices({ notify: [] } as unknown as ResolvedConfig, capturedLogger().logger), undefined);
});
