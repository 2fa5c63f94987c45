import { getCollection, type CollectionEntry } from 'astro:content';

export type Post = CollectionEntry<'blog'>;

/**
 * Published posts, newest first. Drafts show up while you run `npm run dev`
 * and never in a production build.
 */
export async function getPosts(): Promise<Post[]> {
  const posts = await getCollection('blog', ({ data }) => (import.meta.env.PROD ? !data.draft : true));
  return posts.sort((a, b) => b.data.pubDate.valueOf() - a.data.pubDate.valueOf());
}

/** Minutes to read the Markdown body at 200 words a minute, at least 1. */
export function readingTime(body: string | undefined): number {
  const words = (body ?? '').split(/\s+/).filter((word) => /\w/.test(word)).length;
  return Math.max(1, Math.ceil(words / 200));
}

/** The URL segment for a tag: "Web Performance" becomes "web-performance". */
export function tagSlug(tag: string): string {
  return tag
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^\p{Letter}\p{Number}]+/gu, '-')
    .replace(/^-|-$/g, '');
}

/** Every tag with the posts that carry it, most used first, then by name. */
export function groupByTag(posts: Post[]): Array<{ tag: string; slug: string; posts: Post[] }> {
  const groups = new Map<string, { tag: string; slug: string; posts: Post[] }>();
  for (const post of posts) {
    for (const tag of post.data.tags) {
      const slug = tagSlug(tag);
      const group = groups.get(slug) ?? { tag, slug, posts: [] };
      group.posts.push(post);
      groups.set(slug, group);
    }
  }
  return [...groups.values()].sort((a, b) => b.posts.length - a.posts.length || a.tag.localeCompare(b.tag));
}
