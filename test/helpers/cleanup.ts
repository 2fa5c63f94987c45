/**
 * Clean-ups that run in reverse order of registration, like `defer`:
 * a server started after its temporary directory is stopped before the
 * directory is removed. (`t.after` hooks run in registration order, which
 * would remove the directory under a server that is still writing to it.)
 * Every clean-up runs even if one fails; the first failure is thrown after.
 */
const stacks = new WeakMap<object, Array<() => unknown>>();

export function onCleanup(t: { after(fn: () => unknown): void }, fn: () => unknown): void {
  let stack = stacks.get(t);
  if (stack === undefined) {
    const fresh: Array<() => unknown> = [];
    stack = fresh;
    stacks.set(t, fresh);
    t.after(async () => {
      let failure: unknown;
      for (const cleanup of fresh.reverse()) {
        try {
          await cleanup();
        } catch (error) {
          failure ??= error;
        }
      }
      if (failure !== undefined) throw failure;
    });
  }
  stack.push(fn);
}
