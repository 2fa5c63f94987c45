import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPrivateAddress, resolveChecked } from '../../src/notify/private-address.ts';
import { isNotifySendError } from '../../src/notify/notify-send-error.ts';

const PRIVATE = [
  '127.0.0.1',
  '127.255.0.9',
  '10.1.2.3',
  '172.16.0.1',
  '172.31.255.255',
  '192.168.1.1',
  '100.64.0.1',
  '100.127.255.254',
  '169.254.169.254',
  '0.0.0.0',
  '::',
  '::1',
  'fc00::1',
  'fd12:3456::1',
  'fe80::1',
  '::ffff:127.0.0.1',
  '::ffff:7f00:1',
  '::ffff:10.0.0.1',
  '::ffff:169.254.169.254',
];
const PUBLIC = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '192.169.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'];

test('isPrivateAddress knows loopback, RFC 1918, RFC 4193, link-local, CGNAT, unspecified and their IPv4-mapped forms', () => {
  for (const address of PRIVATE) assert.equal(isPrivateAddress(address), true, address);
  for (const address of PUBLIC) assert.equal(isPrivateAddress(address), false, address);
  assert.equal(isPrivateAddress('localhost'), false, 'a name is not an address');
});

test('resolveChecked refuses a name resolving to loopback unless private addresses are allowed', async () => {
  await assert.rejects(resolveChecked('localhost', false), (error) => {
    assert.ok(isNotifySendError(error));
    assert.equal(error.code, 'E_NOTIFY_PRIVATE_ADDRESS');
    assert.match(error.message, /^Refused to connect to localhost \((127\.0\.0\.1|::1)\)/);
    return true;
  });
  assert.match(await resolveChecked('localhost', true), /^(127\.0\.0\.1|::1)$/);
  await assert.rejects(resolveChecked('[::1]', false), { code: 'E_NOTIFY_PRIVATE_ADDRESS' });
  assert.equal(await resolveChecked('8.8.8.8', false), '8.8.8.8');
});
