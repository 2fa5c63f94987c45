/**
 * The deploy benchmark's sites, as git history. A site is `files` small
 * files (about 200 to 600 bytes) in nested directories plus an `index.html`
 * that carries a marker, all derived from a seed, so every run commits the
 * same bytes. Commits go straight into a bare repository with
 * `git fast-import`: 100,000 files take seconds and no work tree.
 *
 *   sec-000/part-0/item-000000.html     (1,000 files per section,
 *   sec-000/part-0/item-000001.css       100 per part)
 *   …
 *   index.html                          (the marker, `marker:<text>;`)
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { run, trackTransient } from './proc.ts';

const EXTENSIONS = ['html', 'css', 'js', 'txt', 'json'] as const;

const WORDS = [
  'harbour', 'berth', 'quay', 'release', 'static', 'deploy', 'anchor', 'tide',
  'manifest', 'cargo', 'vessel', 'signal', 'commit', 'build', 'publish', 'route',
  'header', 'cache', 'window', 'north', 'light', 'rope', 'crane', 'pier',
];

/** Commit times start here and advance one second per commit: the same ids every run. */
const EPOCH = 1_790_000_000;
const IDENTITY = 'Berth Bench <bench@berth.invalid>';

/** mulberry32, as in bench/site/generate.ts. */
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

const pad = (n: number, width: number) => String(n).padStart(width, '0');

export function filePath(i: number): string {
  const ext = EXTENSIONS[i % EXTENSIONS.length] ?? 'txt';
  return `sec-${pad(Math.floor(i / 1000), 3)}/part-${Math.floor(i / 100) % 10}/item-${pad(i, 6)}.${ext}`;
}

/** File `i` at revision `rev` (0 in the first commit, a push's number after a change). */
export function fileContent(i: number, rev: number): string {
  const rand = prng(i * 7919 + rev * 104_729 + 1);
  const words: string[] = [];
  const target = 200 + Math.floor(rand() * 400);
  let length = 0;
  while (length < target) {
    const w = WORDS[Math.floor(rand() * WORDS.length)] ?? 'berth';
    words.push(w);
    length += w.length + 1;
  }
  const text = words.join(' ');
  switch (EXTENSIONS[i % EXTENSIONS.length]) {
    case 'html':
      return `<!doctype html>\n<title>item ${i} r${rev}</title>\n<p>${text}</p>\n`;
    case 'css':
      return `/* item ${i} r${rev}: ${text} */\n.item-${i}{margin:${i % 17}px}\n`;
    case 'js':
      return `// item ${i} r${rev}\nexport const item${i} = ${JSON.stringify(text)};\n`;
    case 'json':
      return `${JSON.stringify({ item: i, rev, text })}\n`;
    default:
      return `item ${i} r${rev}\n${text}\n`;
  }
}

/** The page the benchmark polls: it names the marker and links a few files. */
export function indexHtml(marker: string, files: number): string {
  const links = [0, 1, 2, 3, 4]
    .filter((i) => i < files)
    .map((i) => `<li><a href="/${filePath(i)}">${filePath(i)}</a></li>`)
    .join('\n');
  return `<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>deploy bench</title></head>\n<body>\n<h1>deploy bench, ${files} files</h1>\n<p id="marker">marker:${marker};</p>\n<ul>\n${links}\n</ul>\n</body>\n</html>\n`;
}

/** What a polling client looks for in the body of `/`. */
export function markerText(marker: string): string {
  return `marker:${marker};`;
}

export interface CommitSpec {
  /** Path -> content: the files this commit adds or changes. */
  files: Array<[string, string]>;
  message: string;
}

/** Runs git with no user or system config, so nothing on the machine changes what it does. */
export function gitEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Berth Bench',
    GIT_AUTHOR_EMAIL: 'bench@berth.invalid',
    GIT_COMMITTER_NAME: 'Berth Bench',
    GIT_COMMITTER_EMAIL: 'bench@berth.invalid',
  };
}

/**
 * A bare repository fed by fast-import. `parent` is the commit the next one
 * builds on; `clock` the commit time to use next.
 */
export class BenchRepo {
  readonly bare: string;
  readonly home: string;
  head: string | undefined;
  #clock = EPOCH;
  #scratch: string;

  private constructor(bare: string, home: string, scratch: string) {
    this.bare = bare;
    this.home = home;
    this.#scratch = scratch;
  }

  /** `git init --bare` at `bare`; `scratch` holds the fast-import streams. */
  static async create(bare: string, scratch: string): Promise<BenchRepo> {
    mkdirSync(scratch, { recursive: true });
    const home = join(scratch, 'home');
    mkdirSync(home, { recursive: true });
    const r = await run('git', ['init', '--bare', '--quiet', '--initial-branch=main', bare], { env: gitEnv(home), timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`git init --bare ${bare}: ${r.stderr}`);
    return new BenchRepo(bare, home, scratch);
  }

  /**
   * A second bare repository at `bare` with this one's history (a local
   * `git clone --bare`), whose next commits get the same ids as this one's
   * when given the same specs: two contenders each deploy from their own
   * copy of one history, so neither pulls the other's pushes.
   */
  async copy(bare: string, scratch: string): Promise<BenchRepo> {
    mkdirSync(scratch, { recursive: true });
    const home = join(scratch, 'home');
    mkdirSync(home, { recursive: true });
    const r = await run('git', ['clone', '--bare', '--quiet', this.bare, bare], { env: gitEnv(home), timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`git clone --bare ${this.bare} ${bare}: ${r.stderr}`);
    const twin = new BenchRepo(bare, home, scratch);
    twin.head = this.head;
    twin.#clock = this.#clock;
    return twin;
  }

  /**
   * Appends `commits` to main, one after another, in one fast-import run.
   * Returns their ids in order.
   */
  async commit(commits: CommitSpec[]): Promise<string[]> {
    const stream = join(this.#scratch, 'fast-import.txt');
    const marks = join(this.#scratch, 'marks.txt');
    rmSync(marks, { force: true });
    const fd = openSync(stream, 'w');
    const chunks: string[] = [];
    let pending = 0;
    const flush = () => {
      writeSync(fd, chunks.join(''));
      chunks.length = 0;
      pending = 0;
    };
    const put = (s: string) => {
      chunks.push(s);
      pending += s.length;
      if (pending > 1 << 20) flush();
    };
    const data = (s: string) => put(`data ${Buffer.byteLength(s)}\n${s}\n`);
    try {
      commits.forEach((c, k) => {
        put(`commit refs/heads/main\nmark :${k + 1}\n`);
        put(`author ${IDENTITY} ${this.#clock} +0000\ncommitter ${IDENTITY} ${this.#clock} +0000\n`);
        this.#clock++;
        data(c.message);
        if (k > 0) put(`from :${k}\n`);
        else if (this.head !== undefined) put(`from ${this.head}\n`);
        for (const [path, content] of c.files) {
          put(`M 100644 inline ${path}\n`);
          data(content);
        }
        put('\n');
      });
      put('done\n');
      flush();
    } finally {
      closeSync(fd);
    }
    const r = await fastImport(this.bare, stream, marks, gitEnv(this.home));
    if (r.code !== 0) throw new Error(`git fast-import into ${this.bare} failed (${r.code}): ${r.stderr}`);
    const byMark = new Map<number, string>();
    for (const line of readFileSync(marks, 'utf8').split('\n')) {
      const m = /^:(\d+) ([0-9a-f]{40})$/.exec(line.trim());
      if (m) byMark.set(Number(m[1]), m[2] as string);
    }
    const ids = commits.map((_, k) => byMark.get(k + 1));
    if (ids.some((id) => id === undefined)) throw new Error('git fast-import did not report every commit');
    rmSync(stream, { force: true });
    this.head = ids.at(-1);
    return ids as string[];
  }
}

function fastImport(bare: string, streamFile: string, marksFile: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const input = openSync(streamFile, 'r');
    const child = spawn('git', ['--git-dir', bare, 'fast-import', '--quiet', '--done', `--export-marks=${marksFile}`], {
      env,
      stdio: [input, 'ignore', 'pipe'],
    });
    closeSync(input);
    trackTransient(child);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stderr: stderr + String(err) });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** The first commit of a site: every file at revision 0 and the index page, plus `extra` files. */
export function initialCommit(files: number, marker: string, extra: Array<[string, string]> = []): CommitSpec {
  const list: Array<[string, string]> = [['index.html', indexHtml(marker, files)], ...extra];
  for (let i = 0; i < files; i++) list.push([filePath(i), fileContent(i, 0)]);
  return { files: list, message: `site of ${files} files` };
}

/**
 * A push: `changed` files spread over the site get revision `rev`, and the
 * index page gets the new marker.
 */
export function pushCommit(files: number, rev: number, changed: number, marker: string): CommitSpec {
  const list: Array<[string, string]> = [['index.html', indexHtml(marker, files)]];
  const seen = new Set<number>();
  for (let j = 0; j < Math.min(changed, files); j++) {
    let i = (rev * 7919 + Math.floor((j * files) / changed) + j) % files;
    while (seen.has(i)) i = (i + 1) % files;
    seen.add(i);
    list.push([filePath(i), fileContent(i, rev)]);
  }
  return { files: list, message: `push ${rev}: ${changed} files and the marker ${marker}` };
}
