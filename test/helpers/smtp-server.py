"""A test SMTP server on 127.0.0.1 (aiosmtpd, Debian package python3-aiosmtpd).

Usage: smtp-server.py OUTDIR [--cert PEM --key PEM] [--user NAME --password WORD]

With --cert and --key it offers STARTTLS and requires it before MAIL; with
--user it requires AUTH (PLAIN or LOGIN) after STARTTLS. Without --cert it
offers no STARTTLS at all. Each accepted message is written to OUTDIR as
NNNN.json (envelope, whether TLS and AUTH were used, the raw message), via a
temporary name so a reader never sees half a file. Prints "port N" once
listening, then serves until stdin closes (the test process is gone).
"""
import argparse
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, outdir):
        self.outdir = outdir
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        record = {
            'mailFrom': envelope.mail_from,
            'rcptTos': envelope.rcpt_tos,
            'tls': session.ssl is not None,
            'authenticated': bool(session.authenticated),
            'login': session.login_data.decode('utf-8') if isinstance(session.login_data, bytes) else None,
            'data': envelope.original_content.decode('utf-8', 'replace'),
        }
        path = os.path.join(self.outdir, '%04d.json' % self.count)
        with open(path + '.tmp', 'w') as f:
            json.dump(record, f)
        os.rename(path + '.tmp', path)
        return '250 OK'


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() and auth_data.password == password.encode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)
    return check


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('outdir')
    parser.add_argument('--cert')
    parser.add_argument('--key')
    parser.add_argument('--user')
    parser.add_argument('--password')
    args = parser.parse_args()

    tls = None
    if args.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)
    handler = Handler(args.outdir)

    def factory():
        options = {'hostname': 'localhost', 'decode_data': False, 'ident': 'berth-test-smtp'}
        if tls is not None:
            options.update(tls_context=tls, require_starttls=True)
        if args.user:
            options.update(authenticator=authenticator(args.user, args.password), auth_required=True, auth_require_tls=tls is not None)
        return SMTP(handler, **options)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, '127.0.0.1', 0)
    print('port %d' % server.sockets[0].getsockname()[1], flush=True)
    # Serve until the parent closes our stdin: the server never outlives the test.
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


asyncio.run(main())
