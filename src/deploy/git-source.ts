import { access, chmod, lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { BerthError, type ErrorCode } from '../errors.ts';
import { isRemoteRepo } from '../config/config-schema.ts';
import { formatDuration } from '../config/duration.ts';
import { withSiteLock } from '../releases/site-lock.ts';
import { runChild } from '../process/run-child.ts';
import { shellQuote } from '../shell-quote.ts';

export interface GitAccess {
  /**
   * Clone URL, scp-like address, or local path (absolute, or relative to the
   * working directory). A user name and password in an HTTP(S) URL are taken
   * out of it and sent like `token`; git never sees them in the URL.
   */
  repo: string;
  /** SSH private key for a repository reached over SSH. */
  deployKeyFile?: string;
  /** Access token for a repository reached over HTTP(S); sent as a header, never written to disk or shown. */
  token?: string;
  signal?: AbortSignal;
  /** Limit for the whole operation, all git commands together. @default 300_000 */
  timeoutMs?: number;
}

export interface FetchCommitOptions extends GitAccess {
  /** The site's cached bare clone, kept between deploys (`sites/<site>/source.git`). */
  cacheDir: string;
  /** The commit to deploy (40 or 64 hex). When absent, the commit `ref` points at now. */
  sha?: string;
  /**
   * The commit a webhook said `ref` (the site's branch) was pushed to. Not
   * fetched by itself: `ref` is fetched and its tip checked out, provided
   * `pushed` is that tip or one of its ancestors. Excludes `sha`.
   */
  pushed?: string;
  /** Branch, tag or full ref name; fetched when `sha` is absent, and named in errors. */
  ref: string;
  /**
   * Where the commit's files go; must not exist yet, or be empty. Removed
   * again if the fetch fails. Absent: the commit is only fetched into the
   * cache (a site with no build reads it from there, see git-tree-source.ts).
   */
  workDir?: string;
  submodules: boolean;
  /** Receives git's progress and the commands run, one line at a time. */
  log: (line: string) => void;
}

export interface FetchedCommit {
  /** The commit checked out. With `pushed`, the branch's tip, which may be newer than the pushed commit. */
  sha: string;
  /** The author's name. */
  author: string;
  /** The full commit message, trimmed. */
  message: string;
  /** The committer's time, ms since the epoch. */
  committedAtMs: number;
  /** The commit's root tree. */
  tree: string;
}

export interface ResolveRefOptions extends GitAccess {
  ref: string;
}

const DEFAULT_TIMEOUT_MS = 5 * 60_000;
const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/**
 * How far back from the branch's tip a pushed commit is looked for, in
 * steps: the first fetch brings the tip alone, each step deepens the cached
 * history by that many commits. A push that is further behind than their sum
 * is treated as not on the branch (nothing is deployed); the push that moved
 * the branch since then has its own webhook.
 */
const DEEPEN_STEPS = [10, 100, 1000];
const SEARCH_DEPTH = 1 + DEEPEN_STEPS.reduce((sum, step) => sum + step, 0);
/** Points at the last commit fetched, so the next fetch can tell the server what the cache already has. */
const LAST_FETCHED_REF = 'refs/berth/last-fetched';

/**
 * Fetches one commit of a site's repository into a fresh work directory.
 *
 * The site keeps a bare clone (`cacheDir`); each deploy adds exactly the
 * wanted commit to it with a depth-1 fetch, so a push costs about what it
 * changed, not the repository's history. The work directory then gets its own
 * small `.git` that borrows the cache's objects (git "alternates"): the build
 * can run `git rev-parse HEAD` or `git log -1`, submodules work, and deleting
 * the work directory leaves nothing behind in the cache. The publish step
 * never copies `.git` (dot-directories are not published).
 *
 * With `pushed` (a webhook), the commit named by the push is never fetched
 * by its id: servers hand out any commit they have by id, including ones
 * only on other branches or in a fork's pull request (`refs/pull/N/head`),
 * and a captured push sent again names an old commit. The branch is fetched
 * instead and its tip deployed, if the pushed commit is on it.
 *
 * Security: a token (or the credentials of an HTTP(S) URL) is passed to git
 * in its environment, scoped to the repository's origin, so it does not
 * appear in the process list, on disk (neither cache's nor work
 * directory's `.git/config` holds it), in logs or in errors. Local file
 * transport is allowed only when `repo` is itself a local path, so a
 * `.gitmodules` in a remote repository cannot make us read other
 * repositories on this machine. Git never runs a hook, an fsmonitor, or
 * settings Berth did not write into the cache (see `gitRunner` and
 * `prepareCache`); the cache and the work directory's `.git` are private to
 * Berth's user (0700).
 *
 * @throws BerthError `E_GIT_FETCH` (repository unreachable, refused access,
 *   unknown ref, timeout), `E_GIT_COMMIT_NOT_FOUND` (the commit is not in the
 *   repository), `E_PUSH_NOT_ON_BRANCH` (`pushed` is not on the branch),
 *   `E_GIT_CHECKOUT` (the work directory could not be filled). Aborting
 *   `signal` rejects with the signal's reason.
 */
export async function fetchCommit(options: FetchCommitOptions): Promise<FetchedCommit> {
  const wanted = options.sha?.toLowerCase();
  const pushed = options.pushed?.toLowerCase();
  for (const given of [options.sha, options.pushed]) {
    if (given !== undefined && !FULL_SHA.test(given.toLowerCase())) {
      throw new BerthError('E_GIT_COMMIT_NOT_FOUND', `"${given}" is not a full commit id; give all 40 (or 64) hex digits`);
    }
  }
  if (wanted !== undefined && pushed !== undefined) throw new Error('fetchCommit takes sha or pushed, not both');
  checkRef(options.ref);
  const git = gitRunner(options);
  const cacheDir = resolve(options.cacheDir);
  const workDir = options.workDir === undefined ? undefined : resolve(options.workDir);

  // A `berth deploy` from the shell and `berth serve` may fetch the same site at once.
  return withSiteLock(
    `${cacheDir}.lock`,
    async () => {
      await prepareCache(git, cacheDir, wanted ?? pushed);
      const described =
        wanted !== undefined ? await readCommit(git, cacheDir, await fetchSha(git, cacheDir, wanted, options.ref))
        : pushed !== undefined ? await fetchBranchTip(git, cacheDir, options.ref, pushed)
        : await fetchRef(git, cacheDir, options.ref);
      const sha = described.sha;
      if (workDir === undefined) return described;
      await claimWorkDir(workDir);
      try {
        await checkout(git, cacheDir, workDir, sha);
        if (options.submodules) {
          await git.run(
            ['-C', workDir, 'submodule', 'update', '--init', '--recursive', '--depth=1', '--progress'],
            'E_GIT_FETCH',
            `fetch the submodules of ${sha}`,
            { log: true },
          );
        }
        return described;
      } catch (error) {
        await rm(workDir, { recursive: true, force: true });
        throw error;
      }
    },
    git.remainingMs(),
  );
}

/**
 * Git's housekeeping of a site's cached clone (packing loose objects,
 * dropping what nothing references), which `fetchCommit` leaves out so it
 * stays off the way to live: run after a deploy. Usually git finds nothing
 * to do and this costs one short command. Under the cache's lock, so no
 * fetch runs meanwhile.
 *
 * @throws BerthError `E_GIT_FETCH` when git fails.
 */
export async function maintainCache(options: GitAccess & { cacheDir: string; log?: (line: string) => void }): Promise<void> {
  const git = gitRunner(options);
  const cacheDir = resolve(options.cacheDir);
  if (!(await exists(join(cacheDir, 'HEAD')))) return;
  await withSiteLock(
    `${cacheDir}.lock`,
    // Detached, git would go on in the background after this returns, outside the lock and the timeout.
    () => git.run(['-c', 'gc.autoDetach=false', '-c', 'maintenance.autoDetach=false', '--git-dir', cacheDir, 'maintenance', 'run', '--auto', '--quiet'], 'E_GIT_FETCH', 'tidy the cached clone'),
    git.remainingMs(),
  );
}

/**
 * The commit a branch or tag of the repository points at now, asked of the
 * server with `git ls-remote` (nothing is fetched). A short name is looked up
 * the way git does: `refs/<name>`, then tag, then branch.
 *
 * @throws BerthError `E_GIT_FETCH` (unreachable, refused, or no such ref).
 */
export async function resolveRef(options: ResolveRefOptions): Promise<string> {
  checkRef(options.ref);
  const git = gitRunner(options);
  const ref = options.ref;
  const candidates = ref === 'HEAD' || ref.startsWith('refs/') ? [ref] : [`refs/${ref}`, `refs/tags/${ref}`, `refs/heads/${ref}`];
  // An annotated tag is listed twice; its `^{}` line is the commit it points at, and must be asked for by name.
  const patterns = candidates.flatMap((name) => [name, `${name}^{}`]);
  const out = await git.run(['ls-remote', ...git.uploadPack, git.repo, ...patterns], 'E_GIT_FETCH', `look up ${ref}`);
  const refs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [sha, name] = line.split('\t');
    if (sha !== undefined && name !== undefined) refs.set(name, sha.toLowerCase());
  }
  for (const name of candidates) {
    const sha = refs.get(`${name}^{}`) ?? refs.get(name);
    if (sha !== undefined) return sha;
  }
  throw new BerthError('E_GIT_FETCH', `There is no branch or tag "${ref}" in ${git.shownRepo}; check the site's branch (or the ref asked for)`);
}

function checkRef(ref: string): void {
  // A leading "-" would reach git as an option.
  // A colon would make the fetch's refspec (see `fetch`) name another destination.
  if (ref === '' || ref.startsWith('-') || /[\s\0:]/.test(ref)) {
    throw new BerthError('E_GIT_FETCH', `"${ref}" is not a branch, tag or ref name git accepts`);
  }
}

/**
 * Settings git may find in the cache's config: what `git init --bare` and
 * `git remote add` write. Anything else (a hooks path, an fsmonitor, a
 * credential helper, an upload-pack command, an include) was not written by
 * Berth, and git would act on it as Berth's user.
 */
const CACHE_CONFIG_KEYS = new Set([
  'core.repositoryformatversion', 'core.filemode', 'core.bare', 'core.symlinks', 'core.ignorecase', 'core.precomposeunicode',
  'core.logallrefupdates', 'extensions.objectformat', 'remote.origin.url', 'remote.origin.fetch',
]);

/**
 * The cached clones this process has checked (`prepareCache`), each with
 * its config file's identity then (inode, size, change time) and the
 * repository it was set to. The config is Berth's alone (0700); while the
 * file is the same, it is not read again: two git commands fewer per deploy.
 */
const checkedCaches = new Map<string, string>();

async function configIdentity(cacheDir: string, repo: string): Promise<string | undefined> {
  try {
    const info = await lstat(join(cacheDir, 'config'), { bigint: true });
    return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}:${repo}`;
  } catch {
    return undefined;
  }
}

async function prepareCache(git: GitRunner, cacheDir: string, sha: string | undefined): Promise<void> {
  const seen = checkedCaches.get(cacheDir);
  if (seen !== undefined && seen === (await configIdentity(cacheDir, git.repo)) && (await exists(join(cacheDir, 'HEAD')))) {
    await chmod(cacheDir, 0o700);
    return;
  }
  checkedCaches.delete(cacheDir);
  if (await exists(join(cacheDir, 'HEAD'))) {
    // Read as a plain file: `--file` follows no include, and nothing is run.
    const names = await git.run(['config', '--file', join(cacheDir, 'config'), '--no-includes', '--list', '--name-only'], 'E_GIT_FETCH', 'read the cached clone', {
      allowExit: [1],
    });
    const foreign = names.split('\n').filter((name) => name !== '' && !CACHE_CONFIG_KEYS.has(name.toLowerCase()));
    if (foreign.length > 0) {
      git.log(`the cached clone's config has ${foreign.length} setting(s) Berth does not write; it is removed and fetched again`);
      await rm(cacheDir, { recursive: true, force: true });
    }
  }
  if (!(await exists(join(cacheDir, 'HEAD')))) {
    await mkdir(cacheDir, { recursive: true, mode: 0o700 });
    // A repository's object format is fixed when it is created; a 64-hex id means a SHA-256 repository.
    const format = sha?.length === 64 ? ['--object-format=sha256'] : [];
    await git.run(['init', '--bare', '--quiet', '--template=', ...format, cacheDir], 'E_GIT_FETCH', 'create the cached clone');
  }
  // Full history and every fetched commit: for Berth's user only.
  await chmod(cacheDir, 0o700);
  const current = await git.run(['--git-dir', cacheDir, 'config', '--get', 'remote.origin.url'], 'E_GIT_FETCH', 'read the cached clone', { allowExit: [1] });
  if (current.trim() === '') {
    await git.run(['--git-dir', cacheDir, 'remote', 'add', 'origin', git.repo], 'E_GIT_FETCH', 'set up the cached clone');
  } else if (current.trim() !== git.repo) {
    // Also replaces a URL with credentials that an older Berth stored.
    await git.run(['--git-dir', cacheDir, 'remote', 'set-url', 'origin', git.repo], 'E_GIT_FETCH', 'set up the cached clone');
  }
  const identity = await configIdentity(cacheDir, git.repo);
  if (identity !== undefined) checkedCaches.set(cacheDir, identity);
}

async function fetchSha(git: GitRunner, cacheDir: string, sha: string, ref: string): Promise<string> {
  // Servers speaking protocol v2 (git 2.18+, GitHub, GitLab, Gitea, a local
  // path) hand out any commit a branch or tag reaches, so one fetch by id does.
  if (await hasCommit(git, cacheDir, sha)) {
    git.log(`commit ${sha} is already in the cached clone`);
    return sha;
  }
  try {
    await fetch(git, cacheDir, sha);
  } catch (error) {
    if (!(error instanceof GitFailure)) throw error;
    if (/does not allow request for unadvertised object/i.test(error.stderr)) {
      // An older server (protocol v0 without uploadpack.allowReachableSHA1InWant)
      // hands out only the commits its branches and tags point at right now.
      throw new BerthError(
        'E_GIT_COMMIT_NOT_FOUND',
        `Commit ${sha} is not what a branch or tag points at in ${git.shownRepo}, and that server hands out no other commit; deploy the newest commit of ${ref} instead`,
        { cause: error },
      );
    }
    if (/not our ref|no such remote ref|couldn't find remote ref [0-9a-f]{40}|not a valid object|bad object/i.test(error.stderr)) {
      throw new BerthError(
        'E_GIT_COMMIT_NOT_FOUND',
        `Commit ${sha} was not found in ${git.shownRepo}: it does not exist there, or no branch or tag reaches it any more (after a force-push); check the commit id, or deploy ${ref}`,
        { cause: error },
      );
    }
    throw error.toBerthError();
  }
  if (!(await hasCommit(git, cacheDir, sha))) {
    throw new BerthError('E_GIT_COMMIT_NOT_FOUND', `Fetching commit ${sha} from ${git.shownRepo} did not bring that commit; check the commit id`);
  }
  return sha;
}

async function fetchRef(git: GitRunner, cacheDir: string, ref: string): Promise<FetchedCommit> {
  try {
    await fetch(git, cacheDir, ref);
  } catch (error) {
    if (error instanceof GitFailure && /couldn't find remote ref/i.test(error.stderr)) {
      throw new BerthError('E_GIT_FETCH', `There is no branch or tag "${ref}" in ${git.shownRepo}; check the site's branch (or the ref asked for)`, { cause: error });
    }
    throw error instanceof GitFailure ? error.toBerthError() : error;
  }
  return readCommit(git, cacheDir, 'FETCH_HEAD^{commit}', `read what ${ref} points at`);
}

/**
 * The commit `rev` names, with what a deploy records of it, read with one
 * git command. `git log -1 --no-walk`, not `git show`: show also reads the
 * commit's tree, which costs in proportion to the tree.
 */
async function readCommit(git: GitRunner, cacheDir: string, rev: string, doing = `read commit ${rev}`): Promise<FetchedCommit> {
  const shown = await git.run(
    ['--git-dir', cacheDir, 'log', '-1', '--no-walk', '--no-show-signature', '--no-mailmap', '--format=%H%x00%T%x00%ct%x00%an%x00%B', '--end-of-options', rev, '--'],
    'E_GIT_CHECKOUT',
    doing,
  );
  const [sha = '', tree = '', time = '', author = '', ...rest] = shown.split('\0');
  if (!FULL_SHA.test(sha) || !FULL_SHA.test(tree)) throw new BerthError('E_GIT_CHECKOUT', `Could not ${doing}: git printed no commit; remove the cached clone and deploy again`);
  return { sha, tree, author: author.trim(), message: rest.join('\0').trim(), committedAtMs: Number(time) * 1000 };
}

/**
 * The tip of branch `ref`, fetched, provided `pushed` is the tip or one of
 * its ancestors; the history is deepened step by step (`DEEPEN_STEPS`) to
 * find out. A force-push that moved the branch back is honoured: its pushed
 * commit is then the tip.
 */
async function fetchBranchTip(git: GitRunner, cacheDir: string, ref: string, pushed: string): Promise<FetchedCommit> {
  const fetched = await fetchRef(git, cacheDir, ref);
  const tip = fetched.sha;
  if (tip === pushed) return fetched;
  for (let step = 0; ; step++) {
    if (await isAncestor(git, cacheDir, pushed, tip)) {
      git.log(`pushed commit ${pushed} is on ${ref}, whose tip is now ${tip}`);
      return fetched;
    }
    const deepen = DEEPEN_STEPS[step];
    if (deepen === undefined) break;
    try {
      await fetch(git, cacheDir, ref, [`--deepen=${deepen}`]);
    } catch (error) {
      throw error instanceof GitFailure ? error.toBerthError() : error;
    }
  }
  throw new BerthError(
    'E_PUSH_NOT_ON_BRANCH',
    `Pushed commit ${pushed} is not on ${ref} (not among its newest ${SEARCH_DEPTH} commits; the tip is ${tip}), so nothing was deployed; ` +
      'a webhook deploys only its branch: a commit from another branch or a pull request, or an old push sent again, deploys nothing, and a push that moved the branch since has its own webhook',
  );
}

async function isAncestor(git: GitRunner, cacheDir: string, ancestor: string, descendant: string): Promise<boolean> {
  // Exit 1: not an ancestor; 128: the commit is not in the cache (not fetched, so not within the history fetched so far).
  const exit = await git.exitCode(['--git-dir', cacheDir, 'merge-base', '--is-ancestor', ancestor, descendant], 'E_GIT_FETCH', 'look in the cached clone', [1, 128]);
  return exit === 0;
}

/**
 * Throws GitFailure (not yet a BerthError) so the caller can tell a missing
 * commit from an unreachable server. The refspec points LAST_FETCHED_REF at
 * what was fetched, as part of the fetch. Git's housekeeping is not run here
 * but after the deploy (`maintainCache`), off the way to live.
 */
async function fetch(git: GitRunner, cacheDir: string, what: string, depth: string[] = ['--depth=1']): Promise<void> {
  await git.run(
    ['-c', 'maintenance.auto=false', '-c', 'gc.auto=0', '--git-dir', cacheDir, 'fetch', ...depth, '--no-tags', '--progress', ...git.uploadPack, 'origin', `+${what}:${LAST_FETCHED_REF}`],
    'E_GIT_FETCH',
    `fetch ${what}`,
    { log: true, raw: true },
  );
}

async function hasCommit(git: GitRunner, cacheDir: string, sha: string): Promise<boolean> {
  const out = await git.run(['--git-dir', cacheDir, 'cat-file', '-t', sha], 'E_GIT_FETCH', 'look in the cached clone', { allowExit: [128] });
  return out.trim() === 'commit';
}

async function claimWorkDir(workDir: string): Promise<void> {
  await mkdir(workDir, { recursive: true });
  if ((await readdir(workDir)).length > 0) {
    throw new BerthError('E_GIT_CHECKOUT', `The work directory ${workDir} is not empty; a checkout needs a fresh one`);
  }
}

async function checkout(git: GitRunner, cacheDir: string, workDir: string, sha: string): Promise<void> {
  const doing = `check out ${sha}`;
  const format = sha.length === 64 ? ['--object-format=sha256'] : [];
  await git.run(['init', '--quiet', '--template=', ...format, workDir], 'E_GIT_CHECKOUT', doing);
  const dotGit = join(workDir, '.git');
  await chmod(dotGit, 0o700);
  // Borrow the cache's objects for the checkout, then copy the commit's own
  // into the work dir and stop borrowing (what `git clone --dissociate`
  // does): the build can run git on its commit without reading the cache,
  // which is Berth's alone. The work dir's history is that one commit.
  const alternates = join(dotGit, 'objects', 'info', 'alternates');
  await writeFile(alternates, `${join(cacheDir, 'objects')}\n`);
  await writeFile(join(dotGit, 'shallow'), `${sha}\n`);
  // The submodules' relative URLs are resolved against origin.
  await git.run(['-C', workDir, 'remote', 'add', 'origin', git.repo], 'E_GIT_CHECKOUT', doing);
  await git.run(['-C', workDir, '-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', sha], 'E_GIT_CHECKOUT', doing);
  await git.run(['-C', workDir, 'repack', '-a', '-d', '-q'], 'E_GIT_CHECKOUT', doing);
  await rm(alternates);
  const head = (await git.run(['-C', workDir, 'rev-parse', '--verify', 'HEAD^{commit}'], 'E_GIT_CHECKOUT', doing)).trim();
  if (head !== sha) {
    throw new BerthError('E_GIT_CHECKOUT', `Checking out ${sha} into ${workDir} gave commit ${head} instead; remove the cached clone ${cacheDir} and deploy again`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

interface RunOptions {
  /**
   * Where git runs. @default `/`, not Berth's own working directory: git
   * looks for a repository from there upwards and reads its config, and
   * Berth's commands name their repositories explicitly.
   */
  cwd?: string;
  /** Send stderr to the log as it comes. */
  log?: boolean;
  /** Exit codes that are answers, not failures. */
  allowExit?: number[];
  /** Throw a GitFailure for the caller to interpret rather than a BerthError. */
  raw?: boolean;
}

interface GitRunner {
  /** The repository as handed to git: local paths made absolute, credentials taken out of an HTTP(S) URL. */
  repo: string;
  /** Arguments for `fetch` and `ls-remote` that tell git how to start upload-pack in a local repository (none otherwise). */
  uploadPack: string[];
  /** The repository as shown in messages, credentials removed. */
  shownRepo: string;
  log(line: string): void;
  remainingMs(): number;
  /** Runs git; resolves with its standard output. */
  run(args: string[], code: ErrorCode, doing: string, options?: RunOptions): Promise<string>;
  /** Runs git; resolves with its exit code, which must be 0 or one of `answers`. */
  exitCode(args: string[], code: ErrorCode, doing: string, answers: number[]): Promise<number>;
}

/** Environment variables git (and ssh, curl) may need; nothing else of ours reaches it. */
const PASSED_ENV = [
  'PATH', 'HOME', 'USER', 'LOGNAME', 'TMPDIR', 'SSH_AUTH_SOCK',
  'SSL_CERT_FILE', 'SSL_CERT_DIR', 'GIT_SSL_CAINFO', 'GIT_SSL_CAPATH',
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'all_proxy',
];

/**
 * Settings every git Berth runs gets in the command scope, which wins over
 * the system, global and repository config files.
 *
 * Git runs as Berth's user (root, often) on directories a build could have
 * touched: no hook ever runs (from a hooks directory or a `core.hooksPath`
 * in any file), nor an fsmonitor. Replace refs and a grafts file, which
 * would change what a commit id means, are ignored (environment, below).
 * `file://` is allowed only when the site's repository is itself local.
 *
 * They travel in the environment (`GIT_CONFIG_COUNT`), not in a file: there
 * is no temporary file for anyone to create first or change.
 */
function commandConfig(local: boolean): Array<[string, string]> {
  return [
    ['core.hooksPath', '/dev/null'],
    ['core.fsmonitor', 'false'],
    // GIT_GRAFT_FILE=/dev/null (below) would otherwise add ten lines of advice to every deploy log.
    ['advice.graftFileDeprecated', 'false'],
    ['protocol.file.allow', local ? 'always' : 'never'],
  ];
}

/**
 * The user name and password of an HTTP(S) URL, and the URL without them.
 * Git would write a URL's credentials into `.git/config`; Berth sends them
 * per command as a header instead.
 */
function splitCredentials(repo: string): { repo: string; user: string; password: string } | undefined {
  if (!/^https?:\/\//i.test(repo)) return undefined;
  let url: URL;
  try {
    url = new URL(repo);
  } catch {
    return undefined;
  }
  if (url.username === '' && url.password === '') return undefined;
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  return { repo: url.href, user, password };
}

/**
 * The environment for git commands that only read the site's cached clone
 * (no network): what every git Berth runs gets, as described at
 * `commandConfig`, and pathspecs taken literally (a path from a repository
 * that starts with `:` is a path, not pathspec magic).
 */
export function localGitEnvironment(): NodeJS.ProcessEnv {
  const env = gitEnvironment(['PATH', 'HOME', 'USER', 'LOGNAME', 'TMPDIR']);
  env.GIT_LITERAL_PATHSPECS = '1';
  setGitConfig(env, commandConfig(false));
  return env;
}

/**
 * What every git Berth runs gets: the named variables of Berth's own
 * environment and nothing else of it, messages in English (so the checks
 * below can read them), no prompt, no replace refs, no grafts.
 */
function gitEnvironment(passed: readonly string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of passed) if (process.env[name] !== undefined) env[name] = process.env[name];
  return Object.assign(env, { LC_ALL: 'C', LANG: 'C', GIT_TERMINAL_PROMPT: '0', GIT_NO_REPLACE_OBJECTS: '1', GIT_GRAFT_FILE: '/dev/null' });
}

/** Settings as `-c` would give them, through the environment (out of the process list). */
function setGitConfig(env: NodeJS.ProcessEnv, config: ReadonlyArray<[string, string]>): void {
  env.GIT_CONFIG_COUNT = String(config.length);
  config.forEach(([key, value], index) => {
    env[`GIT_CONFIG_KEY_${index}`] = key;
    env[`GIT_CONFIG_VALUE_${index}`] = value;
  });
}

function gitRunner(options: GitAccess & { log?: (line: string) => void }): GitRunner {
  if (options.repo === '' || options.repo.startsWith('-')) {
    throw new BerthError('E_GIT_FETCH', `"${options.repo}" is not a repository git accepts; give a clone URL, git@host:path, or a local path`);
  }
  const local = !isRemoteRepo(options.repo) || /^file:/i.test(options.repo);
  const given = isRemoteRepo(options.repo) ? options.repo : resolve(options.repo);
  const inUrl = splitCredentials(given);
  const repo = inUrl?.repo ?? given;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const secrets: string[] = [];

  const env = gitEnvironment(PASSED_ENV);
  Object.assign(env, {
    // BatchMode: ssh never asks for a password or passphrase; it fails instead.
    GIT_SSH_COMMAND: options.deployKeyFile === undefined
      ? 'ssh -o BatchMode=yes'
      : `ssh -i ${shellQuote(options.deployKeyFile)} -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new -o BatchMode=yes`,
  });
  const config = commandConfig(local);
  const origin = httpOrigin(repo);
  // The site's token wins over credentials in the URL.
  const credentials = options.token !== undefined && options.token !== '' ? `x-access-token:${options.token}`
    : inUrl !== undefined ? `${inUrl.user}:${inUrl.password}`
    : undefined;
  if (credentials !== undefined && origin !== undefined) {
    const basic = Buffer.from(credentials).toString('base64');
    secrets.push(basic);
    if (options.token !== undefined && options.token !== '') secrets.push(options.token);
    // A URL's password, or its user name when that is the token (https://TOKEN@host/…).
    if (inUrl !== undefined && inUrl.password !== '') secrets.push(inUrl.password);
    else if (inUrl !== undefined && inUrl.user.length >= 8) secrets.push(inUrl.user);
    // Like `-c`, but out of the process list (anyone on the host can read
    // arguments; only we can read our environment). Scoped to the origin, so
    // a redirect or a submodule elsewhere never gets it.
    config.push([`http.${origin}/.extraHeader`, `Authorization: Basic ${basic}`]);
  }
  setGitConfig(env, config);
  // Git refuses a local repository another user owns ("dubious ownership"),
  // as when one is mounted into Berth's container. The operator named this
  // path in the config, so it is trusted, and only it. Git drops the
  // environment's settings when it starts upload-pack in a local repository,
  // so the setting goes on upload-pack's own command line (a shell command
  // git runs with the path appended).
  // (A repository with a work tree is trusted by its `.git` directory's path.)
  const localPath = repo.replace(/^file:\/\//i, '');
  const trusted = [localPath, join(localPath, '.git')].map((path) => `-c safe.directory=${shellQuote(path)}`).join(' ');
  const uploadPack = local ? [`--upload-pack=git ${trusted} upload-pack`] : [];

  const redact = (text: string): string => {
    let out = text.replace(/\b(https?:\/\/)[^/@\s]+@/gi, '$1***@');
    for (const secret of secrets) if (secret !== '') out = out.split(secret).join('***');
    return out;
  };
  const shownRepo = redact(given);
  const log = (line: string): void => options.log?.(redact(line));

  const spawnChecked = async (args: string[], code: ErrorCode, doing: string, runOptions: RunOptions): Promise<Extract<SpawnResult, { kind: 'exit' }>> => {
    const remaining = deadline - Date.now();
    if (options.signal?.aborted === true) throw options.signal.reason;
    if (remaining <= 0) throw timeoutError(code, doing, shownRepo, timeoutMs);
    if (runOptions.log === true) log(`$ git ${args.join(' ')}`);
    const result = await spawnGit(args, {
      env,
      cwd: runOptions.cwd ?? '/',
      timeoutMs: remaining,
      signal: options.signal,
      onLine: runOptions.log === true ? log : undefined,
    });
    if (result.kind === 'aborted') throw options.signal?.reason;
    if (result.kind === 'timeout') throw timeoutError(code, doing, shownRepo, timeoutMs);
    if (result.kind === 'output') {
      throw new BerthError(code, `Git wrote more than ${GIT_OUTPUT_LIMIT_BYTES / (1024 * 1024)} MiB of output (trying to ${doing} from ${shownRepo}) and was stopped; check that the repository URL points at the repository you mean`);
    }
    if (result.kind === 'missing') {
      throw new BerthError(code, `Could not run git to ${doing}: ${result.message}; install git and make sure it is on the PATH`);
    }
    if (result.exitCode === 0 || runOptions.allowExit?.includes(result.exitCode) === true) return result;
    const failure = new GitFailure(code, doing, shownRepo, redact(result.stderr), result.exitCode);
    if (runOptions.raw === true) throw failure;
    throw failure.toBerthError();
  };

  return {
    repo,
    uploadPack,
    shownRepo,
    log,
    remainingMs: () => Math.max(1, deadline - Date.now()),
    async run(args, code, doing, runOptions = {}) {
      return (await spawnChecked(args, code, doing, runOptions)).stdout;
    },
    async exitCode(args, code, doing, answers) {
      return (await spawnChecked(args, code, doing, { allowExit: answers })).exitCode;
    },
  };
}

function timeoutError(code: ErrorCode, doing: string, repo: string, timeoutMs: number): BerthError {
  return new BerthError(code, `Git did not finish within ${formatDuration(timeoutMs)} (trying to ${doing} from ${repo}) and was stopped; check that the server is reachable and answering`);
}

/** A git command that exited non-zero; its stderr is already redacted. */
class GitFailure extends Error {
  readonly code: ErrorCode;
  readonly doing: string;
  readonly repo: string;
  readonly stderr: string;
  readonly exitCode: number;

  constructor(code: ErrorCode, doing: string, repo: string, stderr: string, exitCode: number) {
    super(`git exited with code ${exitCode}: ${stderr}`);
    this.code = code;
    this.doing = doing;
    this.repo = repo;
    this.stderr = stderr;
    this.exitCode = exitCode;
  }

  toBerthError(): BerthError {
    const said = gitSaid(this.stderr);
    return new BerthError(this.code, `Could not ${this.doing} from ${this.repo}: ${said === '' ? `git exited with code ${this.exitCode}` : `git said "${said}"`}; ${hintFor(this.stderr)}`, {
      cause: this,
    });
  }
}

/** The last few lines of what git printed that are not progress, on one line. */
function gitSaid(stderr: string): string {
  const lines = stderr
    .split(/[\r\n]+/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^(remote: )?(Enumerating|Counting|Compressing|Receiving|Resolving|Total|Unpacking|Updating files)\b/.test(line) && !line.startsWith('From '));
  const text = lines.slice(-4).join(' / ');
  return text.length > 600 ? `…${text.slice(-600)}` : text;
}

function hintFor(stderr: string): string {
  if (/could not read (username|password)|authentication failed|permission denied \(publickey|repository not found|terminal prompts disabled|\b40[13]\b|access denied|host key verification failed/i.test(stderr)) {
    return 'check the repository URL, and for a private repository give the site a deploy_key_file (SSH) or token_env (HTTPS) that can read it';
  }
  if (/could not resolve host|connection refused|connection timed out|failed to connect|network is unreachable|no route to host|could not connect/i.test(stderr)) {
    return 'check the repository URL and that this server can reach it';
  }
  if (/does not appear to be a git repository|not a git repository|no such file or directory/i.test(stderr)) {
    return 'check the repository URL or path';
  }
  return 'check the repository URL and its credentials';
}

type SpawnResult =
  | { kind: 'exit'; exitCode: number; stdout: string; stderr: string }
  | { kind: 'timeout' }
  | { kind: 'aborted' }
  | { kind: 'output' }
  | { kind: 'missing'; message: string };

interface SpawnOptions {
  env: NodeJS.ProcessEnv;
  cwd: string | undefined;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  onLine: ((line: string) => void) | undefined;
}

/** Most stderr kept for the error message; progress can be long. */
const STDERR_KEEP = 64 * 1024;
/**
 * Output git may write before it is stopped: what Berth asks for (a commit
 * id, a ref list) is far smaller, and a hostile remote cannot make Berth
 * hold more than this.
 */
const GIT_OUTPUT_LIMIT_BYTES = 64 * 1024 * 1024;
/** Between SIGTERM, on which git removes its own lock files, and SIGKILL. */
const GIT_KILL_GRACE_MS = 2_000;

async function spawnGit(args: string[], options: SpawnOptions): Promise<SpawnResult> {
  const stdout: Buffer[] = [];
  const decoder = new StringDecoder('utf8');
  let stderr = '';
  let partial = '';
  const onStderr = (text: string): void => {
    stderr = (stderr + text).slice(-STDERR_KEEP);
    if (options.onLine === undefined) return;
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    // Progress redraws one line with \r; only its final state is worth a log line.
    for (const line of lines) {
      const last = line.split('\r').filter((part) => part.trim() !== '').at(-1);
      if (last !== undefined) options.onLine(last.trimEnd());
    }
  };
  // Its own process group (and session, so ssh can never prompt on our
  // terminal): a timeout or abort stops git with its ssh or https helpers.
  const result = await runChild({
    command: 'git',
    args,
    cwd: options.cwd,
    env: options.env,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    killGraceMs: GIT_KILL_GRACE_MS,
    outputLimitBytes: GIT_OUTPUT_LIMIT_BYTES,
    onOutput: (stream, chunk) => {
      if (stream === 'stdout') stdout.push(chunk);
      else onStderr(decoder.write(chunk));
    },
  });
  if (result.error !== undefined) {
    return { kind: 'missing', message: result.error.code === 'ENOENT' ? 'git was not found' : result.error.message };
  }
  onStderr(decoder.end());
  const last = partial.split('\r').filter((part) => part.trim() !== '').at(-1);
  if (last !== undefined) options.onLine?.(last.trimEnd());
  if (result.stopped !== undefined) return { kind: result.stopped };
  if (result.overLimit) return { kind: 'output' };
  return { kind: 'exit', exitCode: result.code ?? 1, stdout: Buffer.concat(stdout).toString('utf8'), stderr };
}

/** `https://host:port` of an HTTP(S) repository URL, without credentials; undefined for SSH and local repositories. */
function httpOrigin(repo: string): string | undefined {
  if (!/^https?:\/\//i.test(repo)) return undefined;
  try {
    return new URL(repo).origin;
  } catch {
    return undefined;
  }
}

