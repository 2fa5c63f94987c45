import type { Encoding } from '../releases/manifest.ts';

export interface AcceptedEncodings {
  br: boolean;
  gzip: boolean;
}

const NOTHING: AcceptedEncodings = Object.freeze({ br: false, gzip: false });
const BOTH: AcceptedEncodings = Object.freeze({ br: true, gzip: true });
const BR_ONLY: AcceptedEncodings = Object.freeze({ br: true, gzip: false });
const GZIP_ONLY: AcceptedEncodings = Object.freeze({ br: false, gzip: true });
const BR = /(?:^|[\s,])br(?:$|[\s,])/i;
const GZIP = /(?:^|[\s,])(?:x-)?gzip(?:$|[\s,])/i;

/** Which of our precompressed encodings the client takes (q > 0). */
export function acceptedEncodings(header: string | undefined): AcceptedEncodings {
  if (header === undefined || header === '' || header.length > 512) return NOTHING;
  // Browsers send a plain list (`gzip, deflate, br, zstd`): no weights, no wildcard.
  if (!header.includes(';') && !header.includes('*')) {
    const br = BR.test(header);
    const gzip = GZIP.test(header);
    return br ? (gzip ? BOTH : BR_ONLY) : gzip ? GZIP_ONLY : NOTHING;
  }
  const result = { br: false, gzip: false };
  let star: boolean | undefined;
  const explicit = new Set<Encoding>();
  for (const part of header.split(',')) {
    const [rawName = '', ...params] = part.split(';');
    const name = rawName.trim().toLowerCase();
    const q = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('q='));
    const accepted = q === undefined || Number(q.slice(2)) > 0;
    if (name === '*') star = accepted;
    else if (name === 'br' || name === 'gzip' || name === 'x-gzip') {
      const key: Encoding = name === 'br' ? 'br' : 'gzip';
      result[key] = accepted;
      explicit.add(key);
    }
  }
  if (star !== undefined) {
    if (!explicit.has('br')) result.br = star;
    if (!explicit.has('gzip')) result.gzip = star;
  }
  return result;
}
