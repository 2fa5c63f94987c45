/**
 * Writes the benchmark site: three files of fixed sizes with content derived
 * from a seed, so every run (and every server) serves the same bytes.
 *
 *   style.css    1 KiB  (1024 bytes)
 *   index.html  10 KiB  (10240 bytes)
 *   image.jpg  200 KiB  (204800 bytes, a JFIF header then noise)
 *
 * `variant` changes the text of index.html and style.css (not the image);
 * the publish-under-load check alternates between two variants.
 *
 * CLI: node bench/site/generate.ts <dir> [variant]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const SITE_FILES = {
  css: { path: '/style.css', size: 1024 },
  html: { path: '/index.html', size: 10 * 1024 },
  image: { path: '/image.jpg', size: 200 * 1024 },
} as const;

export type SiteFileKey = keyof typeof SITE_FILES;

/** mulberry32: tiny, fast, and the same on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seedOf(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

const WORDS = [
  'harbour', 'berth', 'quay', 'release', 'static', 'deploy', 'anchor', 'tide',
  'manifest', 'cargo', 'vessel', 'signal', 'commit', 'build', 'publish', 'route',
  'header', 'cache', 'window', 'north', 'light', 'rope', 'crane', 'pier',
  'ledger', 'current', 'swift', 'steady', 'plain', 'small', 'quiet', 'clear',
];

/** Pads `body` to exactly `size` bytes by inserting filler before `tail`. */
function fit(body: string, tail: string, size: number, open: string, close: string): Buffer {
  const fixed = Buffer.byteLength(body + tail + open + close);
  if (fixed > size) {
    // Trim whole characters (all ASCII here) until the frame fits.
    body = body.slice(0, body.length - (fixed - size));
    return Buffer.from(body + open + close + tail);
  }
  const pad = size - fixed;
  const filler = ''.padEnd(pad, 'berth ').slice(0, pad);
  const out = Buffer.from(body + open + filler + close + tail);
  if (out.length !== size) throw new Error(`generator bug: ${out.length} != ${size}`);
  return out;
}

function words(rand: () => number, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(WORDS[Math.floor(rand() * WORDS.length)] ?? 'berth');
  return out.join(' ');
}

export function makeCss(variant: string): Buffer {
  const rand = prng(seedOf(`css:${variant}`));
  const hue = Math.floor(rand() * 360);
  let css = `/* bench site, variant ${variant} */\n`;
  css += `:root{--accent:hsl(${hue} 60% 40%);--bg:#fdfdfb;--fg:#1d1d1f}\n`;
  css += 'body{margin:0 auto;max-width:44rem;padding:1rem;font:16px/1.5 system-ui,sans-serif;background:var(--bg);color:var(--fg)}\n';
  css += 'h1,h2{line-height:1.2;color:var(--accent)}\na{color:var(--accent)}\n';
  for (let i = 0; css.length < 900; i++) {
    css += `.c${i}{margin:${Math.floor(rand() * 24)}px 0;padding:${Math.floor(rand() * 12)}px}\n`;
  }
  return fit(css, '\n', SITE_FILES.css.size, '/* ', ' */');
}

export function makeHtml(variant: string): Buffer {
  const rand = prng(seedOf(`html:${variant}`));
  let html = '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n';
  html += `<meta name="viewport" content="width=device-width,initial-scale=1">\n<title>Bench ${variant}</title>\n`;
  html += '<link rel="stylesheet" href="/style.css">\n</head>\n<body>\n';
  html += `<h1 data-variant="${variant}">Berth bench page, variant ${variant}</h1>\n<img src="/image.jpg" alt="noise" width="320" height="240">\n`;
  for (let s = 0; html.length < 9800; s++) {
    html += `<h2 class="c${s % 8}">${words(rand, 3)}</h2>\n<p>${words(rand, 40 + Math.floor(rand() * 40))}.</p>\n`;
  }
  return fit(html, '</body>\n</html>\n', SITE_FILES.html.size, '<!-- ', ' -->\n');
}

export function makeJpeg(): Buffer {
  const size = SITE_FILES.image.size;
  const out = Buffer.alloc(size);
  const rand = prng(seedOf('image'));
  for (let i = 0; i < size; i += 4) out.writeUInt32LE(Math.floor(rand() * 4294967296), i);
  // SOI + a JFIF APP0 segment, and EOI at the end: enough to look like a JPEG.
  Buffer.from([
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00,
  ]).copy(out, 0);
  out[size - 2] = 0xff;
  out[size - 1] = 0xd9;
  return out;
}

export interface SiteContents {
  /** URL path -> bytes */
  files: Map<string, Buffer>;
}

export function siteContents(variant = 'a'): SiteContents {
  return {
    files: new Map([
      [SITE_FILES.css.path, makeCss(variant)],
      [SITE_FILES.html.path, makeHtml(variant)],
      [SITE_FILES.image.path, makeJpeg()],
    ]),
  };
}

/** Writes the site into `dir` (created if missing, files world-readable). */
export function writeSite(dir: string, variant = 'a'): SiteContents {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const site = siteContents(variant);
  for (const [path, bytes] of site.files) writeFileSync(join(dir, path.slice(1)), bytes, { mode: 0o644 });
  return site;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node bench/site/generate.ts <dir> [variant]');
    process.exit(2);
  }
  writeSite(resolve(dir), process.argv[3] ?? 'a');
  console.log(`wrote bench site to ${resolve(dir)}`);
}
