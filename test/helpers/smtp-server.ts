import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createSelfSignedCertificate } from '../../src/tls/self-signed.ts';
import { onCleanup } from './cleanup.ts';

/**
 * A real SMTP server for the e-mail tests: aiosmtpd (Debian package
 * python3-aiosmtpd, installed by scripts/test-deps.sh) run by
 * smtp-server.py beside this file, on 127.0.0.1 and a port of its choosing.
 * OpenSMTPD would be the real MTA of choice, but Debian 12's build cannot
 * do TLS with OpenSSL 3 (OpenSMTPD issues 1171 and 1239), and STARTTLS is
 * what these tests are about.
 */
export interface SmtpServer {
  readonly port: number;
  /** PEM of the server's self-signed certificate (for `localhost` and 127.0.0.1), for the channel's `ca_file`. */
  readonly caFile: string | undefined;
  /** Messages accepted so far, in order. */
  messages(): Promise<ReceivedMail[]>;
}

export interface ReceivedMail {
  mailFrom: string;
  rcptTos: string[];
  tls: boolean;
  authenticated: boolean;
  /** The whole message as received: headers, blank line, body. */
  data: string;
}

export interface SmtpServerOptions {
  /** Offer STARTTLS and require it (default); false: no STARTTLS at all. */
  starttls?: boolean;
  /** Require AUTH with these credentials. */
  auth?: { user: string; password: string };
}

/** The Debian package's interpreter: aiosmtpd is installed for it, not for whatever python3 is first on PATH. */
const PYTHON = '/usr/bin/python3';

export async function startSmtpServer(t: { after(fn: () => unknown): void }, dir: string, options: SmtpServerOptions = {}): Promise<SmtpServer> {
  const args = [join(import.meta.dirname, 'smtp-server.py'), dir];
  let caFile: string | undefined;
  if (options.starttls !== false) {
    const pair = await createSelfSignedCertificate(['localhost', '127.0.0.1']);
    caFile = join(dir, 'smtp-cert.pem');
    const keyFile = join(dir, 'smtp-key.pem');
    await writeFile(caFile, pair.cert);
    await writeFile(keyFile, pair.key, { mode: 0o600 });
    args.push('--cert', caFile, '--key', keyFile);
  }
  if (options.auth !== undefined) args.push('--user', options.auth.user, '--password', options.auth.password);

  const child = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  onCleanup(t, async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin.end();
    child.kill('SIGTERM');
    await exited;
  });
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const match = /^port (\d+)$/.exec(line);
      if (match !== null) resolve(Number(match[1]));
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`The test SMTP server exited (${code}) before listening: ${stderr}; run scripts/test-deps.sh to install python3-aiosmtpd`)));
  });

  return {
    port,
    caFile,
    async messages() {
      const names = (await readdir(dir)).filter((name) => /^\d+\.json$/.test(name)).sort();
      return Promise.all(names.map(async (name) => JSON.parse(await readFile(join(dir, name), 'utf8')) as ReceivedMail));
    },
  };
}
