import { createHmac } from 'node:crypto';
import { request } from 'node:http';

/**
 * POSTs `payload` as a GitHub push event, signed with `secret`, to the
 * webhook of the site "blog" on 127.0.0.1:`port` (Host: localhost).
 * Resolves with the status and the answer's text.
 */
export function githubPushTo(port: number, secret: string, payload: object, delivery: string): Promise<{ status: number; text: string }> {
  const body = JSON.stringify(payload);
  const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/_berth/hooks/blog',
        headers: { host: 'localhost', 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': delivery, 'x-hub-signature-256': signature },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
