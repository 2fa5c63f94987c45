import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChallengeResponder } from '../server/challenge-responder.ts';
import { writeFileAtomic } from '../tls/atomic-write.ts';

/**
 * RFC 8555 tokens are base64url (43 characters from Let's Encrypt and
 * Pebble); anything else in a request path is never a token of ours. The
 * length cap keeps the file name and its temporary sibling under the
 * 255-byte limit of file names.
 */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * HTTP-01 key authorizations waiting for the CA to fetch them. Kept in
 * memory for this process and on disk under `data_dir/acme/challenges/`, so
 * that whichever process holds the HTTP port answers: a serving worker, or
 * `berth serve` for an order placed by `berth certs --renew`. Its `lookup`
 * is the server's ChallengeResponder.
 */
export interface ChallengeStore extends ChallengeResponder {
  put(token: string, keyAuthorization: string): Promise<void>;
  remove(token: string): Promise<void>;
}

export function createChallengeStore(dataDir: string): ChallengeStore {
  const dir = join(dataDir, 'acme', 'challenges');
  const memory = new Map<string, string>();
  return {
    async put(token, keyAuthorization) {
      if (!TOKEN_PATTERN.test(token)) throw new Error(`The CA sent a challenge token that is not base64url: ${JSON.stringify(token.slice(0, 40))}`);
      memory.set(token, keyAuthorization);
      await writeFileAtomic(join(dir, token), keyAuthorization);
    },
    async remove(token) {
      memory.delete(token);
      if (TOKEN_PATTERN.test(token)) await rm(join(dir, token), { force: true });
    },
    async lookup(token) {
      if (!TOKEN_PATTERN.test(token)) return undefined;
      const known = memory.get(token);
      if (known !== undefined) return known;
      try {
        return await readFile(join(dir, token), 'utf8');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return undefined;
        throw error;
      }
    },
  };
}
