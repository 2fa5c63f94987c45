import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { startTestServer } from '../helpers/server.ts';

/** The certificate the server presents for a handshake with `servername` (undefined: no SNI at all). */
function peerCertificate(port: number, servername: string | undefined): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername === undefined ? {} : { servername }) }, () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      resolve(cert);
    });
    socket.on('error', reject);
  });
}

/** Every name a certificate carries: subject, issuer and subject alternative names. */
function namesIn(cert: PeerCertificate): string {
  return [JSON.stringify(cert.subject), JSON.stringify(cert.issuer), cert.subjectaltname ?? ''].join(' ').toLowerCase();
}

const secretNames = ['shop.example', 'www.shop.example', 'intranet.corp.example', 'localhost', '127.0.0.1'];

for (const acme of ['off', 'http://127.0.0.1:9/directory']) {
  test(`a client with no SNI or an unknown name gets a stand-in certificate that names no configured domain (acme ${acme === 'off' ? 'off' : 'on'})`, async (t) => {
    const s = await startTestServer(t, {
      sites: [
        { name: 'shop', domains: ['shop.example', 'www.shop.example'] },
        { name: 'intranet', domains: ['intranet.corp.example', 'localhost', '127.0.0.1'] },
      ],
      ...(acme === 'off' ? {} : { acme: `directory = "${acme}"\nemail = "ops@shop.example"` }),
    });
    for (const servername of [undefined, 'unknown.example', 'scanner']) {
      const cert = await peerCertificate(s.httpsPort, servername);
      const names = namesIn(cert);
      for (const domain of secretNames) assert.ok(!names.includes(domain), `${domain} is in the certificate shown for SNI ${servername ?? '(none)'}: ${names}`);
      assert.match(cert.subjectaltname ?? '', /DNS:/, 'it is still a certificate for some name');
    }
    // A client that names a configured domain still gets a certificate for it.
    const named = await peerCertificate(s.httpsPort, 'www.shop.example');
    assert.match(named.subjectaltname ?? '', /DNS:www\.shop\.example/);
    assert.match(String(named.issuer.O), /Berth self-signed/);
  });
}
