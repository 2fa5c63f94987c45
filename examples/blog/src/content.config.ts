import { readFile } from 'node:fs/promises';
import { defineCollection } from 'astro:content';
import { glob, type Loader } from 'astro/loaders';
import { z } from 'astro/zod';

// Every Markdown file in src/content/blog is a post; its file name (without
// `.md`) is its slug: src/content/blog/hello.md is served at /blog/hello/.
const posts = glob({ base: './src/content/blog', pattern: '**/*.md' });

const DATE_FIELDS = ['pubDate', 'updatedDate'];

/**
 * YAML reads `pubDate: 2026-13-45` as a date and rolls it over into
 * 2027-02-14, so the schema never sees the mistake: the dates are checked as
 * written, in each post's front matter, and an impossible one fails the build
 * with the file and the field named. (In `astro dev`, an edited post is
 * reloaded without this check; the build always runs it.)
 */
async function checkDates(root: string, filePath: string): Promise<void> {
  const text = await readFile(new URL(filePath, root), 'utf8');
  const front = /^---\r?\n([\s\S]*?)\r?\n---/.exec(text)?.[1] ?? '';
  for (const line of front.split(/\r?\n/)) {
    const field = /^(\w+):\s*['"]?(\d{4})-(\d{1,2})-(\d{1,2})\b/.exec(line);
    if (field === null || !DATE_FIELDS.includes(field[1] ?? '')) continue;
    const [year, month, day] = [Number(field[2]), Number(field[3]), Number(field[4])];
    const date = new Date(Date.UTC(year, month - 1, day));
    if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
      throw new Error(`${filePath}: ${field[1]} ${field[2]}-${field[3]}-${field[4]} is not a date (month 1-12, and a day that month has); write it as YYYY-MM-DD`);
    }
  }
}

const postsWithDates: Loader = {
  name: 'blog-posts',
  async load(context) {
    await posts.load(context);
    const root = context.config.root.href;
    for (const entry of context.store.values()) {
      if (entry.filePath !== undefined) await checkDates(root, entry.filePath);
    }
  },
};

const blog = defineCollection({
  loader: postsWithDates,
  schema: ({ image }) =>
    z.object({
      title: z.string().min(1),
      description: z.string().min(1),
      pubDate: z.coerce.date(),
      updatedDate: z.coerce.date().optional(),
      tags: z.array(z.string()).default([]),
      draft: z.boolean().default(false),
      heroImage: image().optional(),
      heroAlt: z.string().optional(),
    }),
});

export const collections = { blog };
