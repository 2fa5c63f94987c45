import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { rawRequest, startTestServer } from '../helpers/server.ts';

const files = { 'index.html': 'home page', 'about/index.html': 'about page' };

function statusOf(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
}

function bodyOf(response: string): string {
  return response.slice(response.indexOf('\r\n\r\n') + 4);
}

function request(target: string, host = 'localhost'): string {
  return `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
}

test('an absolute-form request target is accepted, its authority takes the place of Host, and other schemes or a userinfo part get 400', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  const port = s.httpPort;

  const plain = await rawRequest(port, request('http://localhost/about/?q=1'));
  assert.equal(statusOf(plain), 200, plain);
  assert.equal(bodyOf(plain), 'about page');

  // Host says another name: the target's authority wins (RFC 9112 3.2.2).
  const overridden = await rawRequest(port, request(`http://LOCALHOST:${port}/`, 'not-a-site.example'));
  assert.equal(statusOf(overridden), 200, overridden);
  assert.equal(bodyOf(overridden), 'home page');
  const elsewhere = await rawRequest(port, request('http://not-a-site.example/', 'localhost'));
  assert.equal(statusOf(elsewhere), 421, 'a target naming no site is not served from the Host site');

  // No path at all, or only a query: the root.
  assert.equal(bodyOf(await rawRequest(port, request('http://localhost'))), 'home page');
  assert.equal(bodyOf(await rawRequest(port, request('https://localhost?x=1'))), 'home page');

  // Over TLS (HTTP/1.1 by ALPN) the same.
  const secure = await new Promise<string>((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: s.httpsPort, servername: 'localhost', ALPNProtocols: ['http/1.1'], rejectUnauthorized: false }, () => {
      socket.write(request('https://localhost/about/'));
    });
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
  assert.equal(statusOf(secure), 200, secure);
  assert.equal(bodyOf(secure), 'about page');

  // What is not a plain http(s) URI with a host keeps its 400.
  for (const target of ['ftp://localhost/', 'http://user:pass@localhost/', 'http://@localhost/', 'http:///about/', 'http:/localhost/', 'localhost/about/']) {
    const response = await rawRequest(s.httpPort, request(target));
    assert.equal(statusOf(response), 400, `${target}: ${response}`);
  }
});
