import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { createTransport } from 'nodemailer';
import { excerpt } from '../excerpt.ts';
import { describeCode } from './describe-network-error.ts';
import type { NotifyChannel } from './channel-config.ts';
import { DEFAULT_SEND_TIMEOUT_MS, type SendOptions } from './http-post.ts';
import { summarize, type NotifyEvent } from './notify-event.ts';
import { NotifySendError } from './notify-send-error.ts';
import { resolveChecked } from './private-address.ts';

/**
 * Sends the event as a plain-text e-mail over SMTP with nodemailer. The
 * connection goes to the address the private-address check approved (the
 * name is still what TLS verifies), so DNS cannot swap it in between.
 *
 * `starttls` refuses to go on unencrypted when the server offers no
 * STARTTLS, `tls` speaks TLS from the first byte, `none` never encrypts:
 * with `none` a password crosses the network as written.
 */
export async function sendEmail(channel: NotifyChannel, event: NotifyEvent, signal: AbortSignal, options: SendOptions = {}): Promise<void> {
  const settings = channel.email;
  if (settings === undefined) throw new NotifySendError(`Channel ${channel.name} has no SMTP settings`, { retryable: false });
  const server = `${settings.host}:${settings.port}`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;

  let address: string;
  try {
    address = await resolveChecked(settings.host, channel.allowPrivate);
  } catch (error) {
    if (error instanceof NotifySendError) throw error;
    throw new NotifySendError(`Sending e-mail through ${server} failed: its name could not be looked up (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`, { retryable: true, cause: error });
  }
  let ca: string | undefined;
  if (settings.caFile !== undefined) {
    try {
      ca = await readFile(settings.caFile, 'utf8');
    } catch (error) {
      throw new NotifySendError(`Cannot read ca_file ${settings.caFile} of channel ${channel.name}: ${(error as NodeJS.ErrnoException).code ?? 'unknown error'}`, { retryable: false, cause: error });
    }
  }
  const servername = isIP(settings.host) === 0 ? settings.host : undefined;
  const transport = createTransport({
    host: address,
    port: settings.port,
    secure: settings.security === 'tls',
    requireTLS: settings.security === 'starttls',
    ignoreTLS: settings.security === 'none',
    ...(servername === undefined ? {} : { servername }),
    auth: settings.username === undefined ? undefined : { user: settings.username, pass: settings.password?.reveal() ?? '' },
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    tls: { ...(ca === undefined ? {} : { ca }), ...(servername === undefined ? {} : { servername }), minVersion: 'TLSv1.2' },
    // The message is ours; nothing in it may make nodemailer read a file or fetch a URL.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  const { title, text } = summarize(event);
  try {
    await transport.sendMail({
      from: settings.from,
      to: [...settings.to],
      subject: title,
      text,
      headers: { 'X-Berth-Event': event.type, 'X-Berth-Event-Id': event.id },
      signal,
    });
  } catch (error) {
    throw smtpError(error, server, settings.security);
  } finally {
    transport.close();
  }
}

interface SmtpFailure {
  code?: string;
  responseCode?: number;
  response?: string;
}

function smtpError(error: unknown, server: string, security: string): NotifySendError {
  const { code, responseCode, response } = error as SmtpFailure;
  const said = response === undefined ? '' : ` (${excerpt(response, 120)})`;
  const fail = (message: string, retryable: boolean): NotifySendError => new NotifySendError(message, { retryable, cause: error });
  switch (code) {
    case 'EAUTH':
      return fail(`The SMTP server ${server} refused the user name or password${said}; check username and password of the channel`, false);
    case 'ENOAUTH':
      return fail(`The SMTP server ${server} asks for a login; set username and password on the channel`, false);
    case 'ETLS':
      return fail(
        security === 'starttls'
          ? `The SMTP server ${server} would not start TLS${said}; smtp_security = "starttls" never sends mail unencrypted (use "tls" for a port that speaks TLS at once, usually 465)`
          : `TLS with the SMTP server ${server} failed${said}`,
        false,
      );
    case 'EENVELOPE':
    case 'EMESSAGE':
      // 4xx is "try again later" in SMTP; 5xx is final.
      return fail(`The SMTP server ${server} refused the message${said}`, responseCode !== undefined && responseCode >= 400 && responseCode < 500);
    case 'EABORT':
      return fail(`Sending e-mail through ${server} was cancelled`, false);
    case 'ETIMEDOUT':
      return fail(`Sending e-mail through ${server} timed out`, true);
    case 'ECONFIG':
      return fail(`The SMTP settings of the channel for ${server} are contradictory`, false);
    default: {
      // nodemailer files socket failures under ESOCKET or ECONNECTION and keeps the socket's own code.
      const original = (error as { originalCode?: string }).originalCode;
      return fail(`Sending e-mail through ${server} failed: ${describeCode(original ?? code)}${said}`, true);
    }
  }
}
