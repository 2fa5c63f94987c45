import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hmacSha256Base64, hmacSha256Hex, parseHexSignature, safeEqual, sha256Hex, verifyHexSignature } from '../../src/webhooks/signature.ts';

describe('hmacSha256Hex()', () => {
  it('matches the RFC 4231 test case 2', () => {
    assert.equal(hmacSha256Hex('Jefe', 'what do ya want for nothing?'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('gives the same answer for a string and its bytes', () => {
    assert.equal(hmacSha256Hex(Buffer.from('k'), Buffer.from('body')), hmacSha256Hex('k', 'body'));
  });
});

describe('hmacSha256Base64()', () => {
  it('signs the parts as if they were joined', () => {
    const joined = Buffer.from(hmacSha256Hex('k', 'id.123.{}'), 'hex').toString('base64');
    assert.equal(hmacSha256Base64('k', 'id', '.', '123', '.', Buffer.from('{}')), joined);
  });
});

describe('sha256Hex()', () => {
  it('hashes the empty string to the well-known value', () => {
    assert.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

describe('safeEqual()', () => {
  it('is true only for equal strings, whatever their lengths', () => {
    assert.equal(safeEqual('abc', 'abc'), true);
    assert.equal(safeEqual('', ''), true);
    assert.equal(safeEqual('abc', 'abd'), false);
    assert.equal(safeEqual('abc', 'abcd'), false);
    assert.equal(safeEqual('abc', ''), false);
    assert.equal(safeEqual('ABC', 'abc'), false);
    assert.equal(safeEqual('é', 'e\u0301'), false);
  });
});

describe('parseHexSignature()', () => {
  const hex = 'a'.repeat(64);

  it('takes sha256=<64 lower-case hex> apart', () => {
    assert.deepEqual(parseHexSignature(`sha256=${hex}`, 'sha256='), { ok: true, hex });
    assert.deepEqual(parseHexSignature(hex, ''), { ok: true, hex });
  });

  const refused: Array<[string, string, string, RegExp]> = [
    ['empty', '', 'sha256=', /is empty/],
    ['without the prefix', hex, 'sha256=', /does not start with sha256=/],
    ['under another prefix', `sha1=${hex}`, 'sha256=', /does not start with sha256=/],
    ['with the prefix in upper case', `SHA256=${hex}`, 'sha256=', /does not start with sha256=/],
    ['with upper-case digits', `sha256=${'A'.repeat(64)}`, 'sha256=', /64 lower-case hex digits/],
    ['truncated', `sha256=${hex.slice(1)}`, 'sha256=', /64 lower-case hex digits/],
    ['too long', `sha256=${hex}a`, 'sha256=', /64 lower-case hex digits/],
    ['not hex', 'z'.repeat(64), '', /^is not 64 lower-case hex digits$/],
    ['with a prefix where none is expected', `sha256=${hex}`, '', /64 lower-case hex digits/],
  ];
  for (const [name, value, prefix, problem] of refused) {
    it(`refuses a signature ${name}`, () => {
      const parsed = parseHexSignature(value, prefix);
      assert.equal(parsed.ok, false);
      assert.match(parsed.ok ? '' : parsed.problem, problem);
    });
  }
});

describe('verifyHexSignature()', () => {
  const body = Buffer.from('{"ref":"refs/heads/main"}');
  it('accepts the HMAC of the body under the secret, and nothing else', () => {
    assert.equal(verifyHexSignature('s3cret', body, hmacSha256Hex('s3cret', body)), true);
    assert.equal(verifyHexSignature('s3cret', body, hmacSha256Hex('other', body)), false);
    assert.equal(verifyHexSignature('s3cret', body, hmacSha256Hex('s3cret', `${body.toString()} `)), false);
    assert.equal(verifyHexSignature('s3cret', body, ''), false);
  });
});
