import { DEFAULT_SIGNATURE_HEADER } from '../config/config-schema.ts';
import type { Forge } from '../config/resolved-config.ts';

/**
 * What to type into each forge's webhook form, following docs/webhooks.md:
 * the fields Berth checks (URL, content type, secret, push events) with the
 * names each forge gives them.
 */

export interface WebhookSetup {
  forge: Forge;
  /** `https://<first domain>/_berth/hooks/<site>` */
  url: string;
  branch: string;
  /** The secret itself, printed for copy and paste. */
  secret: string;
  /** Where the secret is kept, as shown to the user. */
  secretFile: string;
}

/** The payload URL for a site. IPv6 literals get brackets. */
export function webhookUrl(domain: string, site: string): string {
  const host = domain.includes(':') ? `[${domain}]` : domain;
  return `https://${host}/_berth/hooks/${site}`;
}

const FORGE_TITLES: Readonly<Record<Forge, string>> = {
  github: 'GitHub',
  gitlab: 'GitLab',
  gitea: 'Gitea',
  forgejo: 'Forgejo',
  bitbucket: 'Bitbucket Cloud',
  generic: 'any other sender (forge = "generic")',
};

/** A two-column table of form fields. */
function fields(rows: ReadonlyArray<readonly [string, string]>): string[] {
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `  ${`${name}:`.padEnd(width + 1)}  ${value}`);
}

export function forgeInstructions(setup: WebhookSetup): string[] {
  const { url, branch, secret } = setup;
  const branchNote = `Only pushes to ${branch} are deployed; pushes to other branches are answered and ignored, so a branch filter is optional.`;
  const lines = [`Webhook: in ${FORGE_TITLES[setup.forge]}`];
  switch (setup.forge) {
    case 'github':
      lines.push(
        '  Repository Settings -> Webhooks -> Add webhook',
        ...fields([
          ['Payload URL', url],
          ['Content type', 'application/json'],
          ['Secret', secret],
          ['SSL verification', 'Enable SSL verification'],
          ['Which events', 'Just the push event'],
          ['Active', 'checked'],
        ]),
        '  GitHub sends a "ping" at once; Recent Deliveries should show it answered with 202.',
        `  ${branchNote}`,
      );
      break;
    case 'gitlab':
      lines.push(
        '  Project Settings -> Webhooks -> Add new webhook',
        ...fields([
          ['URL', url],
          ['Content type', 'application/json (GitLab always sends it; nothing to set)'],
          ['Secret token', secret],
          ['Trigger', `Push events (branch filter: wildcard pattern "${branch}", or all branches)`],
          ['SSL verification', 'Enable SSL verification'],
        ]),
        '  Test -> Push events sends a push to check the setup.',
        '  If your GitLab offers a signing token (it starts with whsec_), that is the stronger',
        `  choice: generate it there and put it in ${setup.secretFile} in place of this secret.`,
        `  ${branchNote}`,
      );
      break;
    case 'gitea':
    case 'forgejo': {
      const title = setup.forge === 'gitea' ? 'Gitea' : 'Forgejo';
      lines.push(
        `  Repository Settings -> Webhooks -> Add webhook -> ${title}`,
        ...fields([
          ['Target URL', url],
          ['HTTP method', 'POST'],
          ['POST content type', 'application/json (the form type is refused)'],
          ['Secret', secret],
          ['Trigger on', 'Push events'],
          ['Branch filter', branch],
        ]),
        `  ${branchNote}`,
      );
      break;
    }
    case 'bitbucket':
      lines.push(
        '  Repository settings -> Webhooks -> Add webhook',
        ...fields([
          ['Title', 'Berth'],
          ['URL', url],
          ['Content type', 'application/json (Bitbucket always sends it; nothing to set)'],
          ['Secret', `${secret}   (required: without it nothing is signed and every push is refused)`],
          ['Triggers', 'Repository push'],
        ]),
        '  Bitbucket Cloud only; Bitbucket Data Center (Server) is not supported.',
        `  ${branchNote}`,
      );
      break;
    case 'generic':
      lines.push(
        ...fields([
          ['Request', `POST ${url}`],
          ['Content type', 'Content-Type: application/json'],
          ['Body', `{"ref":"refs/heads/${branch}","sha":"<the 40-hex-digit commit to deploy>"}`],
          ['Signature', `${DEFAULT_SIGNATURE_HEADER}: sha256=<lower-case hex HMAC-SHA256 of the exact body bytes, keyed with the secret>`],
          ['Secret', secret],
          ['Events', 'pushes only: send one request per push'],
        ]),
        '  With curl and openssl (the secret is read from its file, not typed on the command line):',
        `    body='{"ref":"refs/heads/${branch}","sha":"'"$(git rev-parse HEAD)"'"}'`,
        `    signature=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$(cat ${setup.secretFile})" | awk '{print $NF}')`,
        `    curl --fail-with-body ${url} -H 'Content-Type: application/json' \\`,
        `      -H "${DEFAULT_SIGNATURE_HEADER}: sha256=$signature" --data-binary "$body"`,
        '  docs/webhooks.md#generic lists the optional fields (delivery, author, message).',
      );
      break;
  }
  return lines;
}
