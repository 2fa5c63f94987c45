import type { NotifyKind, ResolvedEmail, ResolvedNotify } from '../config/resolved-config.ts';

/*
 * The channel settings the senders and the dispatcher read are the resolved
 * `[[notify]]` tables themselves (config/resolved-config.ts): one shape,
 * checked once by the config loader, carried to the control plane as it is.
 */

export type ChannelKind = NotifyKind;

export type SmtpSecurity = ResolvedEmail['security'];

export type EmailSettings = ResolvedEmail;

/** One `[[notify]]` table, resolved. */
export type NotifyChannel = ResolvedNotify;
