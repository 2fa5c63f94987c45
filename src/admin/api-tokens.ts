import { BerthError } from '../errors.ts';
import { checkAdminName } from './admin-name.ts';
import type { AdminStore, ApiRight, ApiTokenRecord } from './admin-store.ts';
import { hashSecretToken, isSecretToken, newSecretToken } from './secret-token.ts';

/** Every API token starts with this, so a leaked one is easy to recognise (and to search logs and repositories for). */
export const API_TOKEN_PREFIX = 'berth_';

export const API_RIGHTS: readonly ApiRight[] = ['read', 'deploy'];

export interface NewApiToken {
  name: string;
  sites: readonly string[] | 'all';
  rights: ApiRight;
  /** The admin making it; undefined from the command line. */
  createdBy?: string;
}

/** A token as listed: everything but its hash. */
export type ApiTokenInfo = Omit<ApiTokenRecord, 'tokenHash'>;

export interface ApiTokens {
  /** Makes a token and returns it, the one time it is ever shown; only its hash is stored. */
  create(input: NewApiToken, now?: number): { token: string; info: ApiTokenInfo };
  /**
   * The token's record when it may do `need.right` on `need.site`: 'deploy'
   * includes 'read'. E_ADMIN_TOKEN_INVALID for a token that is malformed,
   * unknown or revoked; E_ADMIN_TOKEN_SCOPE for one without that site or
   * right.
   */
  check(token: string | undefined, need: { site: string; right: ApiRight }, now?: number): ApiTokenInfo;
  /** The token's record when it is one Berth issued and not revoked, whatever it may do; else E_ADMIN_TOKEN_INVALID. */
  identify(token: string | undefined): ApiTokenInfo;
  /** Revokes the active token of that name; E_ADMIN_TOKEN_UNKNOWN when there is none. */
  revoke(name: string, now?: number): void;
  /** Oldest first, revoked ones included. Never the token itself, which is not kept. */
  list(): ApiTokenInfo[];
}

/** Last-used times are written at most this often per token. */
const TOUCH_EVERY_MS = 60 * 1000;

export function createApiTokens(store: AdminStore): ApiTokens {
  const activeRecord = (token: string | undefined): ApiTokenRecord => {
    const secret = token?.startsWith(API_TOKEN_PREFIX) === true ? token.slice(API_TOKEN_PREFIX.length) : undefined;
    const record = secret !== undefined && isSecretToken(secret) ? store.getApiTokenByHash(hashSecretToken(token as string)) : undefined;
    if (record === undefined) throw new BerthError('E_ADMIN_TOKEN_INVALID', 'The API token is not one Berth issued');
    if (record.revokedAt !== undefined) throw new BerthError('E_ADMIN_TOKEN_INVALID', `The API token "${record.name}" was revoked`);
    return record;
  };
  return {
    create(input, now = Date.now()) {
      checkAdminName(input.name, 'API token');
      if (!API_RIGHTS.includes(input.rights)) throw new BerthError('E_USAGE', `Rights ${JSON.stringify(input.rights)} are not known; give ${API_RIGHTS.join(' or ')}`);
      if (input.sites !== 'all' && input.sites.length === 0) throw new BerthError('E_USAGE', 'An API token needs at least one site, or all');
      const token = `${API_TOKEN_PREFIX}${newSecretToken()}`;
      const record: Omit<ApiTokenRecord, 'lastUsedAt' | 'revokedAt'> = {
        tokenHash: hashSecretToken(token),
        name: input.name,
        createdBy: input.createdBy,
        sites: input.sites === 'all' ? 'all' : [...new Set(input.sites)],
        rights: input.rights,
        createdAt: now,
      };
      store.addApiToken(record);
      return { token, info: withoutHash({ ...record, lastUsedAt: undefined, revokedAt: undefined }) };
    },

    identify(token) {
      return withoutHash(activeRecord(token));
    },

    check(token, need, now = Date.now()) {
      const record = activeRecord(token);
      if (record.sites !== 'all' && !record.sites.includes(need.site)) {
        throw new BerthError('E_ADMIN_TOKEN_SCOPE', `The API token "${record.name}" is not for the site "${need.site}" (it is for ${record.sites.join(', ')})`);
      }
      if (need.right === 'deploy' && record.rights !== 'deploy') {
        throw new BerthError('E_ADMIN_TOKEN_SCOPE', `The API token "${record.name}" may only read; deploying takes a token with --rights deploy`);
      }
      if (record.lastUsedAt === undefined || now - record.lastUsedAt >= TOUCH_EVERY_MS) {
        store.touchApiToken(record.tokenHash, now);
        record.lastUsedAt = now;
      }
      return withoutHash(record);
    },

    revoke(name, now = Date.now()) {
      if (!store.revokeApiToken(name, now)) {
        throw new BerthError('E_ADMIN_TOKEN_UNKNOWN', `No active API token is named "${name}"; berth admin token list shows them`);
      }
    },

    list() {
      return store.listApiTokens().map(withoutHash);
    },
  };
}

function withoutHash(record: ApiTokenRecord): ApiTokenInfo {
  return {
    name: record.name,
    createdBy: record.createdBy,
    sites: record.sites,
    rights: record.rights,
    createdAt: record.createdAt,
    lastUsedAt: record.lastUsedAt,
    revokedAt: record.revokedAt,
  };
}
