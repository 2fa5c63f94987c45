// @ts-check
import process from 'node:process';
import { defineConfig } from 'astro/config';
import sitemap from '@astrojs/sitemap';

// The public address of the site: canonical URLs, the RSS feed, the sitemap
// and robots.txt are all built from it. Set SITE_URL when you build for your
// own domain (on Berth: [sites.build.environment] in berth.toml).
const site = process.env.SITE_URL ?? 'https://blog.example.com';

export default defineConfig({
  site,
  trailingSlash: 'always',
  build: {
    format: 'directory',
    // The stylesheet is small: inlining it saves a render-blocking request.
    inlineStylesheets: 'always',
  },
  integrations: [sitemap({ filter: (page) => !page.endsWith('/404/') })],
  markdown: {
    shikiConfig: {
      // Both themes are emitted as CSS variables; global.css picks one
      // with prefers-color-scheme.
      themes: { light: 'github-light-default', dark: 'github-dark-default' },
      wrap: false,
    },
  },
});
