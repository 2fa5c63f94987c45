/**
 * Content-Type from the file extension only: a release never sniffs bytes,
 * and the server sends `X-Content-Type-Options: nosniff` so browsers don't
 * either. Text types carry `charset=utf-8`, which is what every static site
 * generator writes.
 */

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  cjs: 'text/javascript; charset=utf-8',
  json: 'application/json; charset=utf-8',
  map: 'application/json; charset=utf-8',
  webmanifest: 'application/manifest+json; charset=utf-8',
  jsonld: 'application/ld+json; charset=utf-8',
  xml: 'application/xml; charset=utf-8',
  rss: 'application/rss+xml; charset=utf-8',
  atom: 'application/atom+xml; charset=utf-8',
  xsl: 'application/xslt+xml; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  ics: 'text/calendar; charset=utf-8',
  vtt: 'text/vtt; charset=utf-8',
  svg: 'image/svg+xml; charset=utf-8',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  ico: 'image/x-icon',
  bmp: 'image/bmp',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  woff: 'font/woff',
  woff2: 'font/woff2',
  ttf: 'font/ttf',
  otf: 'font/otf',
  eot: 'application/vnd.ms-fontobject',
  mp4: 'video/mp4',
  webm: 'video/webm',
  ogv: 'video/ogg',
  mov: 'video/quicktime',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  oga: 'audio/ogg',
  wav: 'audio/wav',
  flac: 'audio/flac',
  m4a: 'audio/mp4',
  opus: 'audio/opus',
  pdf: 'application/pdf',
  zip: 'application/zip',
  gz: 'application/gzip',
  tar: 'application/x-tar',
  wasm: 'application/wasm',
  pem: 'application/x-pem-file',
};

export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** Content-Type for a file name, by its extension (case-insensitive). */
export function contentTypeFor(fileName: string): string {
  const dot = fileName.lastIndexOf('.');
  const slash = fileName.lastIndexOf('/');
  if (dot <= slash + 1) return DEFAULT_CONTENT_TYPE;
  return TYPES[fileName.slice(dot + 1).toLowerCase()] ?? DEFAULT_CONTENT_TYPE;
}

/**
 * Whether precompressing pays off for this type. Already-compressed formats
 * (images, woff2, video, archives) are left alone; ttf/otf/eot fonts compress well.
 */
export function isCompressible(contentType: string): boolean {
  if (contentType.startsWith('text/')) return true;
  if (contentType.startsWith('image/svg+xml')) return true;
  if (contentType.startsWith('image/x-icon') || contentType.startsWith('image/bmp')) return true;
  if (contentType.startsWith('font/ttf') || contentType.startsWith('font/otf')) return true;
  if (contentType === 'application/vnd.ms-fontobject') return true;
  if (contentType === 'application/wasm') return true;
  return /^application\/[a-z.+-]*(json|xml)\b/.test(contentType);
}
