/**
 * Every URL the dashboard's pages and script point at, in one place: the app
 * routes these, the pages link only to these (a test checks every href,
 * action and src of every page against `DASHBOARD_ROUTES`), and
 * assets/dashboard.js repeats the few it calls (the test checks those too).
 *
 * `DASHBOARD_ROUTES` are the patterns, with `:name`, `:id` and `:file` for
 * one path segment; the functions build a concrete path, each value
 * percent-encoded as one segment, so a name can never add a segment or a
 * query.
 */

export const DASHBOARD_ROUTES = {
  /** GET: the sites list. */
  sites: '/',
  /** GET: a site's deploys; query `state`, `branch` filter them. */
  site: '/sites/:name',
  /** GET: a site's releases. */
  releases: '/sites/:name/releases',
  /** GET: confirm a rollback; POST (fields `csrf`, `release`): do it. */
  rollback: '/sites/:name/releases/:id/rollback',
  /** POST (fields `csrf`, optional `ref`): deploy the branch's head, or `ref`. */
  redeploy: '/sites/:name/deploy',
  /** POST (fields `csrf`, optional `reason`): stop pushes and polls from deploying. */
  lock: '/sites/:name/lock',
  /** POST (field `csrf`). */
  unlock: '/sites/:name/unlock',
  /** GET: one deploy, its summary and log. */
  deploy: '/deploys/:id',
  /** POST (field `csrf`). */
  cancel: '/deploys/:id/cancel',
  /** GET: the certificates. */
  certificates: '/certificates',
  /** GET: the sign-in page (query `token`: the one-time link's page); POST: fields `name`, `password`, or `token`. */
  signIn: '/_berth/sign-in',
  /** POST (field `csrf`). */
  signOut: '/_berth/sign-out',
  /** GET: `NAME.HASH.EXT`, see dashboard-assets.ts. */
  asset: '/_berth/assets/:file',
  /** POST, JSON: the options of a passkey sign-in (called by dashboard.js). */
  passkeySignInOptions: '/_berth/sign-in/passkey/options',
  /** POST, JSON: the browser's passkey assertion (called by dashboard.js). */
  passkeySignIn: '/_berth/sign-in/passkey',
  /** POST, JSON, header `x-csrf-token`: the options to register a passkey (called by dashboard.js). */
  passkeyAddOptions: '/_berth/passkeys/options',
  /** POST, JSON, header `x-csrf-token`: the new passkey (called by dashboard.js). */
  passkeyAdd: '/_berth/passkeys',
  /** GET, text/event-stream: a deploy's log as it grows (called by dashboard.js; query `after`). */
  deployLogEvents: '/_berth/api/v1/deploys/:id/log',
} as const;

const seg = encodeURIComponent;

export const sitesPath = (): string => DASHBOARD_ROUTES.sites;
export const sitePath = (site: string): string => `/sites/${seg(site)}`;
export const releasesPath = (site: string): string => `${sitePath(site)}/releases`;
export const rollbackPath = (site: string, release: string): string => `${releasesPath(site)}/${seg(release)}/rollback`;
export const redeployPath = (site: string): string => `${sitePath(site)}/deploy`;
export const lockPath = (site: string): string => `${sitePath(site)}/lock`;
export const unlockPath = (site: string): string => `${sitePath(site)}/unlock`;
export const deployPath = (id: string): string => `/deploys/${seg(id)}`;
export const cancelPath = (id: string): string => `${deployPath(id)}/cancel`;
export const certificatesPath = (): string => DASHBOARD_ROUTES.certificates;
export const signInPath = (): string => DASHBOARD_ROUTES.signIn;
export const signOutPath = (): string => DASHBOARD_ROUTES.signOut;
export const assetPath = (file: string): string => `/_berth/assets/${seg(file)}`;
export const deployLogEventsPath = (id: string): string => `/_berth/api/v1/deploys/${seg(id)}/log`;
