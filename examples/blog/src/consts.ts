// Change these to make the site yours.
export const SITE_TITLE = 'Harbour Notes';
export const SITE_DESCRIPTION =
  'A personal website and blog about shipping small, fast websites from a server you own.';
export const AUTHOR = 'Alex Moreau';
export const POSTS_PER_PAGE = 5;
