/** What every page behind sign-in is rendered with, besides its own model. */
export interface PageContext {
  /** The signed-in admin's name, shown in the header. */
  admin: string;
  /** The session's CSRF token: put in every POST form (field `csrf`) and in `<meta name="csrf-token">` for scripts. */
  csrfToken: string;
  /** The moment ages ("3 min ago") are counted from; passed in so a page is a pure function of its model. */
  now: Date;
}
