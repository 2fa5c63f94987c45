import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHtml, html, Html } from '../../src/dashboard/html.ts';
import { httpUrl } from '../../src/dashboard/http-url.ts';

describe('escapeHtml()', () => {
  it('escapes the five characters that can end text or a quoted attribute', () => {
    assert.equal(escapeHtml(`<script>alert("x")</script> & 'y'`), '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;');
  });

  it('escapes an entity again rather than trusting it', () => {
    assert.equal(escapeHtml('&lt;'), '&amp;lt;');
  });
});

describe('html``', () => {
  it('escapes interpolated strings, in text and in attributes', () => {
    const value = `"><img src=x onerror=alert(1)>`;
    assert.equal(html`<a title="${value}">${value}</a>`.text, '<a title="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;">&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</a>');
  });

  it('keeps Html as it is and joins lists', () => {
    assert.equal(html`<ul>${['<a>', 'b'].map((item) => html`<li>${item}</li>`)}</ul>`.text, '<ul><li>&lt;a&gt;</li><li>b</li></ul>');
  });

  it('renders null, undefined and booleans as nothing, numbers as digits', () => {
    assert.equal(html`${null}${undefined}${false}${true}${0}${42}`.text, '042');
  });

  it('escapes a string that only looks like markup built by the dashboard', () => {
    assert.ok(!(('<b>' as unknown) instanceof Html));
    assert.equal(html`${'<b>'}`.text, '&lt;b&gt;');
  });
});

describe('httpUrl()', () => {
  it('keeps http and https URLs', () => {
    assert.equal(httpUrl('https://github.com/o/r/commit/abc'), 'https://github.com/o/r/commit/abc');
    assert.equal(httpUrl('http://git.example/x?y=1'), 'http://git.example/x?y=1');
  });

  it('refuses script, data, relative and credential-carrying URLs', () => {
    for (const value of ['javascript:alert(1)', ' JavaScript:alert(1)', 'java\tscript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'vbscript:x', '//evil.example/', '/local', 'https://user:pw@git.example/', 'not a url', '', null, undefined]) {
      assert.equal(httpUrl(value), null, String(value));
    }
  });
});
