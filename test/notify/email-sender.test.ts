import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSecret } from '../../src/config/secret.ts';
import type { EmailSettings } from '../../src/notify/channel-config.ts';
import { sendEmail } from '../../src/notify/email-sender.ts';
import { isNotifySendError, type NotifySendError } from '../../src/notify/notify-send-error.ts';
import { summarize } from '../../src/notify/notify-event.ts';
import { freePort } from '../helpers/pebble.ts';
import { startSmtpServer } from '../helpers/smtp-server.ts';
import { tempDir } from '../helpers/temp.ts';
import { channel, deployFailed } from './notify-fixtures.ts';

const signal = new AbortController().signal;
const USER = 'berth';
const PASSWORD = 'right-horse-battery';

function emailChannel(settings: Partial<EmailSettings> & { port: number }, allowPrivate = true) {
  return channel('email', undefined, {
    allowPrivate,
    email: {
      host: 'localhost',
      security: 'starttls',
      username: USER,
      password: createSecret(PASSWORD, 'env SMTP_PASSWORD'),
      from: 'Berth <berth@example.test>',
      to: ['ops@example.test', 'dev@example.test'],
      ...settings,
    },
  });
}

async function failure(promise: Promise<unknown>): Promise<NotifySendError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isNotifySendError(error), `a NotifySendError, not ${String(error)}`);
    return error;
  }
  assert.fail('the send should have failed');
}

test('sendEmail delivers through STARTTLS with a login, checked against ca_file', async (t) => {
  const smtp = await startSmtpServer(t, await tempDir(t), { auth: { user: USER, password: PASSWORD } });
  const event = deployFailed();
  await sendEmail(emailChannel({ port: smtp.port, caFile: smtp.caFile }), event, signal);

  const [mail, ...more] = await smtp.messages();
  assert.equal(more.length, 0);
  assert.ok(mail !== undefined);
  assert.equal(mail.tls, true);
  assert.equal(mail.authenticated, true);
  assert.equal(mail.mailFrom, 'berth@example.test');
  assert.deepEqual(mail.rcptTos, ['ops@example.test', 'dev@example.test']);
  const end = mail.data.indexOf('\r\n\r\n');
  const head = mail.data.slice(0, end);
  const body = mail.data.slice(end + 4).replace(/\r\n/g, '\n').trimEnd();
  assert.match(head, /^Subject: Deploy of blog failed$/m);
  assert.match(head, /^X-Berth-Event: deploy\.failed$/m);
  assert.match(head, new RegExp(`^X-Berth-Event-Id: ${event.id}$`, 'im'));
  assert.match(head, /^Content-Type: text\/plain/m);
  assert.equal(body, summarize(event).text);
});

test('sendEmail refuses a certificate it cannot trust', async (t) => {
  const smtp = await startSmtpServer(t, await tempDir(t), { auth: { user: USER, password: PASSWORD } });
  const error = await failure(sendEmail(emailChannel({ port: smtp.port }), deployFailed(), signal));
  assert.equal(error.retryable, true);
  assert.equal(error.message, `Sending e-mail through localhost:${smtp.port} failed: its TLS certificate is not from a trusted CA`);
  assert.deepEqual(await smtp.messages(), []);
});

test('a wrong password is refused with a clear message and not retried', async (t) => {
  const smtp = await startSmtpServer(t, await tempDir(t), { auth: { user: USER, password: PASSWORD } });
  const channel = emailChannel({ port: smtp.port, caFile: smtp.caFile, password: createSecret('wrong-password-here', 'env SMTP_PASSWORD') });
  const error = await failure(sendEmail(channel, deployFailed(), signal));
  assert.equal(error.retryable, false);
  assert.equal(error.code, 'E_NOTIFY_FAILED');
  assert.match(error.message, new RegExp(`^The SMTP server localhost:${smtp.port} refused the user name or password`));
  assert.doesNotMatch(error.message, /wrong-password-here|right-horse/);
  assert.deepEqual(await smtp.messages(), []);
});

test('a server without STARTTLS is refused when starttls is required, before the password is sent', async (t) => {
  const smtp = await startSmtpServer(t, await tempDir(t), { starttls: false });
  const error = await failure(sendEmail(emailChannel({ port: smtp.port }), deployFailed(), signal));
  assert.equal(error.retryable, false);
  assert.match(error.message, new RegExp(`^The SMTP server localhost:${smtp.port} would not start TLS`));
  assert.match(error.message, /smtp_security = "starttls" never sends mail unencrypted/);
  assert.deepEqual(await smtp.messages(), []);
});

test('security "none" sends without TLS to a server that offers none', async (t) => {
  const smtp = await startSmtpServer(t, await tempDir(t), { starttls: false });
  const email: EmailSettings = { host: 'localhost', port: smtp.port, security: 'none', from: 'berth@example.test', to: ['ops@example.test'] };
  await sendEmail(channel('email', undefined, { email }), deployFailed(), signal);
  const [mail] = await smtp.messages();
  assert.equal(mail?.tls, false);
});

test('an SMTP host on loopback is refused unless allow_private', async (t) => {
  const smtp = await startSmtpServer(t, await tempDir(t), { auth: { user: USER, password: PASSWORD } });
  for (const host of ['localhost', '127.0.0.1']) {
    const error = await failure(sendEmail(emailChannel({ host, port: smtp.port, caFile: smtp.caFile }, false), deployFailed(), signal));
    assert.equal(error.code, 'E_NOTIFY_PRIVATE_ADDRESS');
    assert.equal(error.retryable, false);
  }
  assert.deepEqual(await smtp.messages(), []);
});

test('a refused connection is retryable', async () => {
  const port = await freePort();
  const error = await failure(sendEmail(emailChannel({ port }), deployFailed(), signal));
  assert.equal(error.retryable, true);
  assert.equal(error.message, `Sending e-mail through localhost:${port} failed: connection refused`);
});
