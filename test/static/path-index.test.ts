import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PathIndex } from '../../src/static/path-index.ts';

test('the path index finds every path it holds by its row, and nothing else', () => {
  const paths = ['/index.html', '/café/menü.html', '/tab\there', '/new\nline', '/emoji/🚢.png', '/', '/a', '/a/'];
  for (let i = 0; i < 20_000; i++) paths.push(`/d${i % 97}/f${i}.bin`);
  const index = new PathIndex(paths.length);
  paths.forEach((path, row) => assert.equal(index.add(path), row, path));
  assert.equal(index.count, paths.length);
  index.trim();
  paths.forEach((path, row) => {
    assert.equal(index.get(path), row, path);
    assert.equal(index.pathAt(row), path);
  });
  for (const missing of ['/index.htm', '/index.html/', '/A', '', '/café', '/emoji/🚢.pn', '/d0/f20000.bin']) {
    assert.equal(index.get(missing), undefined, missing);
    assert.equal(index.has(missing), false, missing);
  }
});

test('the path index refuses a path twice, a lone surrogate, and more paths than it was made for', () => {
  const index = new PathIndex(3);
  assert.equal(index.add('/a'), 0);
  assert.equal(index.add('/a'), undefined, 'twice');
  assert.equal(index.add('/bad\ud800'), undefined, 'a lone surrogate would not come back from its bytes');
  assert.equal(index.add('/b'), 1);
  assert.equal(index.add('/c'), 2);
  assert.equal(index.add('/d'), undefined, 'full');
  assert.equal(index.count, 3);
  assert.equal(index.get('/d'), undefined);
  assert.equal(index.get('/c'), 2);
});
