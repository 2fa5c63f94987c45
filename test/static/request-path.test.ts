import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanRequestPath, isPrivatePath } from '../../src/static/request-path.ts';

test('cleanRequestPath keeps ordinary paths as they are', () => {
  for (const path of ['/', '/index.html', '/blog/post/', '/a-b_c~d.txt', '/caf%C3%A9']) {
    const result = cleanRequestPath(path);
    assert.equal(result.kind, 'ok', path);
  }
  assert.deepEqual(cleanRequestPath('/caf%C3%A9'), { kind: 'ok', path: '/café' });
  assert.deepEqual(cleanRequestPath('/a%20b.html'), { kind: 'ok', path: '/a b.html' });
});

test('cleanRequestPath refuses traversal in every encoding', () => {
  const hostile = [
    '/..',
    '/../etc/passwd',
    '/a/../../etc/passwd',
    '/a/./b',
    '/%2e%2e/etc/passwd',
    '/%2E%2E/etc/passwd',
    '/.%2e/etc/passwd',
    '/%2e./etc/passwd',
    '/a/%2e%2e/%2e%2e/etc/passwd',
    '/%2e',
    '/..%2fetc%2fpasswd',
    '/..%2Fetc',
    '/a%2f..%2f..%2fetc',
    '/%5c..%5c..%5cetc',
    '/..\\etc\\passwd',
    '/a\\b',
    '/%00',
    '/index.html%00.txt',
    '/a\x00b',
    '/%25%32%65%25%32%65/', // double-encoded: decodes once to %2e%2e, a literal name, so refused only if treated as dots
    '/%c0%ae%c0%ae/etc/passwd', // overlong UTF-8 dots: invalid UTF-8
    '/%e0%80%ae%e0%80%ae/',
    '/%',
    '/%zz',
    '/%e9',
    'etc/passwd',
    '',
    '*',
    'http://evil.example/',
    '/a%0d%0aSet-Cookie:x',
    '/a%09b',
  ];
  for (const path of hostile) {
    const result = cleanRequestPath(path);
    if (path === '/%25%32%65%25%32%65/') {
      // Decoded once this is the literal name "%2e%2e", which is not a dot segment;
      // it can only name a file of that exact name inside the release.
      assert.deepEqual(result, { kind: 'ok', path: '/%2e%2e/' });
      continue;
    }
    assert.equal(result.kind, 'bad', `expected ${JSON.stringify(path)} to be refused, got ${JSON.stringify(result)}`);
  }
});

test('cleanRequestPath redirects repeated slashes to one, never off the site', () => {
  assert.deepEqual(cleanRequestPath('//evil.example/x'), { kind: 'redirect', location: '/evil.example/x' });
  assert.deepEqual(cleanRequestPath('/a//b///c'), { kind: 'redirect', location: '/a/b/c' });
  assert.deepEqual(cleanRequestPath('///'), { kind: 'redirect', location: '/' });
});

test('cleanRequestPath refuses a generated corpus of dot-dot spellings', () => {
  const dots = ['..', '%2e.', '.%2e', '%2e%2e', '%2E%2e', '%2e%2E'];
  const slashes = ['/', '%2f', '%2F', '\\', '%5c', '%5C'];
  let count = 0;
  for (const dot of dots) {
    for (const slash of slashes) {
      for (const prefix of ['/', '/a/', '/a/b/']) {
        const path = `${prefix}${dot}${slash}${dot}${slash}etc${slash}passwd`;
        assert.equal(cleanRequestPath(path).kind, 'bad', path);
        count++;
      }
    }
  }
  assert.equal(count, dots.length * slashes.length * 3);
});

test('isPrivatePath hides dotfiles but not .well-known', () => {
  assert.equal(isPrivatePath('/.env'), true);
  assert.equal(isPrivatePath('/.git/config'), true);
  assert.equal(isPrivatePath('/a/.htaccess'), true);
  assert.equal(isPrivatePath('/.env.production'), true);
  assert.equal(isPrivatePath('/.berth-manifest.json'), true);
  assert.equal(isPrivatePath('/.well-known/security.txt'), false);
  assert.equal(isPrivatePath('/.well-known'), false);
  assert.equal(isPrivatePath('/.well-known/.secret'), true);
  assert.equal(isPrivatePath('/a.b/c.d'), false);
  assert.equal(isPrivatePath('/index.html'), false);
});
