/**
 * The three ACME clients the certificate benchmark compares, and how each is
 * started for one round: Caddy and Berth as servers (the round ends when they
 * serve a certificate that verifies), certbot as a one-shot command (the
 * round ends when it exits with the certificate on disk).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type PeerName = 'caddy' | 'certbot' | 'berth';

export const PEERS: readonly PeerName[] = ['caddy', 'certbot', 'berth'];

export const PEER_LABEL: Record<PeerName, string> = { caddy: 'Caddy', certbot: 'certbot', berth: 'Berth' };

/** The CA and the ports, fixed for the whole run. */
export interface AcmeSetup {
  directoryUrl: string;
  /** PEM of the certificate Pebble's API presents, which every client must trust. */
  caFile: string;
  /** Pebble validates HTTP-01 on this port, so every client listens on it. */
  httpPort: number;
  httpsPort: number;
  email: string;
  /** Repository root, for Berth's CLI. */
  root: string;
  /** The Node binary that runs Berth. */
  node: string;
}

/** What one round of one client starts. */
export interface PeerLaunch {
  cmd: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /**
   * `serves`: a server; done when the HTTPS port presents a verified
   * certificate. `exits`: done when the process exits 0, with `certFile` and
   * `keyFile` written.
   */
  mode: 'serves' | 'exits';
  certFile?: string;
  keyFile?: string;
  /** The config written for this round, for the results file. */
  config?: string;
}

/** A name no earlier round used, so the CA holds no authorization for it. */
export function roundName(round: number, peer: PeerName): string {
  return `r${round}-${peer}.example.com`;
}

export function caddyfile(setup: AcmeSetup, name: string, storage: string): string {
  // One issuer only (so Caddy cannot fall back to its internal CA), with
  // TLS-ALPN-01 off: every client here proves control with HTTP-01 on the
  // same port, which is the only one Pebble is told to validate.
  return `# Written by bench/lib/acme-peers.ts for one round.
{
	http_port ${setup.httpPort}
	https_port ${setup.httpsPort}
	default_bind 127.0.0.1
	admin off
	storage file_system ${storage}
}

https://${name} {
	tls {
		issuer acme {
			dir ${setup.directoryUrl}
			email ${setup.email}
			trusted_roots ${setup.caFile}
			disable_tlsalpn_challenge
		}
	}
	respond "ok"
}
`;
}

export function berthToml(setup: AcmeSetup, name: string, dataDir: string): string {
  return `# Written by bench/lib/acme-peers.ts for one round.
data_dir = "${dataDir}"

[server]
host = "127.0.0.1"
http_port = ${setup.httpPort}
https_port = ${setup.httpsPort}
access_log = false

[acme]
directory = "${setup.directoryUrl}"
ca_file = "${setup.caFile}"
email = "${setup.email}"

[[sites]]
name = "bench"
domains = ["${name}"]
`;
}

/** Writes the round's config into `dir` (fresh and empty) and says how to start the client. */
export function launch(peer: PeerName, setup: AcmeSetup, name: string, dir: string): PeerLaunch {
  mkdirSync(dir, { recursive: true });
  switch (peer) {
    case 'caddy': {
      const config = caddyfile(setup, name, join(dir, 'storage'));
      const file = join(dir, 'Caddyfile');
      writeFileSync(file, config);
      return {
        cmd: 'caddy',
        args: ['run', '--config', file, '--adapter', 'caddyfile'],
        // Caddy keeps an autosaved config and other state under these; inside
        // the round's dir nothing carries over between rounds or leaks into ~.
        env: { ...process.env, HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), XDG_DATA_HOME: join(dir, 'data') },
        mode: 'serves',
        config,
      };
    }
    case 'certbot': {
      const config = join(dir, 'config');
      return {
        cmd: 'certbot',
        args: [
          'certonly',
          '--standalone',
          '--non-interactive',
          '--agree-tos',
          '--no-eff-email',
          '-m',
          setup.email,
          '--server',
          setup.directoryUrl,
          '--http-01-port',
          String(setup.httpPort),
          '--http-01-address',
          '127.0.0.1',
          '--key-type',
          'ecdsa',
          '-d',
          name,
          '--config-dir',
          config,
          '--work-dir',
          join(dir, 'work'),
          '--logs-dir',
          join(dir, 'logs'),
          '--no-random-sleep-on-renew',
        ],
        // certbot talks to the CA through python-requests, which trusts this bundle.
        env: { ...process.env, REQUESTS_CA_BUNDLE: setup.caFile },
        mode: 'exits',
        certFile: join(config, 'live', name, 'fullchain.pem'),
        keyFile: join(config, 'live', name, 'privkey.pem'),
      };
    }
    case 'berth': {
      const config = berthToml(setup, name, join(dir, 'data'));
      const file = join(dir, 'berth.toml');
      writeFileSync(file, config);
      return {
        cmd: setup.node,
        // The Node binary itself, no npm wrapper, so the pid is the server's.
        args: [join(setup.root, 'src/cli/main.ts'), 'serve', '--config', file],
        env: { ...process.env },
        mode: 'serves',
        config,
      };
    }
  }
}
