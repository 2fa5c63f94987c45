import type { Secret } from '../config/resolved-config.ts';
import type { NotifyEventType } from './notify-event.ts';

export type ChannelKind = 'webhook' | 'slack' | 'discord' | 'ntfy' | 'email';

export type SmtpSecurity = 'starttls' | 'tls' | 'none';

export interface EmailSettings {
  host: string;
  port: number;
  /** `starttls`: plain connection upgraded before anything is sent, refused if the server cannot; `tls`: TLS from the first byte (port 465); `none`: never encrypted. */
  security: SmtpSecurity;
  username?: string;
  password?: Secret;
  from: string;
  to: readonly string[];
  /** A PEM file of CAs to trust instead of the system's, for a server with its own CA. */
  caFile?: string;
}

/**
 * One `[[notify]]` table, resolved: what the senders and the dispatcher read.
 * The config schema produces exactly this.
 */
export interface NotifyChannel {
  name: string;
  kind: ChannelKind;
  events: ReadonlySet<NotifyEventType>;
  /** Sites whose events this channel gets; `undefined` for all of them. */
  sites: readonly string[] | undefined;
  /** `certificate.expiring` fires for this channel when fewer days are left. */
  expiringDays: number;
  /** Whether the URL or SMTP host may be a loopback, private or link-local address (see private-address.ts). */
  allowPrivate: boolean;
  /** webhook, slack, discord, ntfy. A secret: chat webhook URLs carry their token in the path. */
  url?: Secret;
  /** webhook: the Standard Webhooks secret, `whsec_` and base64. */
  secret?: Secret;
  /** ntfy: an access token, sent as `Authorization: Bearer`. */
  token?: Secret;
  email?: EmailSettings;
}
