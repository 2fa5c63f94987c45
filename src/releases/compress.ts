import { promisify } from 'node:util';
import { brotliCompress, gzip, constants } from 'node:zlib';

const brotli = promisify(brotliCompress);
const gz = promisify(gzip);

/** Files smaller than this rarely shrink enough to pay for the extra header. */
export const MIN_COMPRESS_BYTES = 64;

export interface Compressed {
  br: Buffer | undefined;
  gzip: Buffer | undefined;
}

/**
 * Precompresses one file at the highest levels: the cost is paid once per
 * publish (and not at all for content a previous release already had), the
 * saving on every request. A sidecar is kept only where it is smaller.
 */
export async function compressBoth(body: Buffer): Promise<Compressed> {
  if (body.length < MIN_COMPRESS_BYTES) return { br: undefined, gzip: undefined };
  const [br, gzipped] = await Promise.all([
    brotli(body, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    }),
    gz(body, { level: constants.Z_BEST_COMPRESSION, memLevel: 9 }),
  ]);
  return {
    br: br.length < body.length ? br : undefined,
    gzip: gzipped.length < body.length ? gzipped : undefined,
  };
}
