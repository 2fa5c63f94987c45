/**
 * Loaded with `node --import` into `berth serve` (and, through the inherited
 * flags, into every process it forks): appends each module a process loads
 * to `$BERTH_TEST_MODULES_DIR/<pid>.txt`, so a test can tell what a worker
 * imported. Resolution hooks see every import, static and dynamic, `node:`
 * built-ins included.
 */
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { join } from 'node:path';

const dir = process.env.BERTH_TEST_MODULES_DIR;
if (dir !== undefined) {
  const file = join(dir, `${process.pid}.txt`);
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const resolved = nextResolve(specifier, context);
      appendFileSync(file, `${resolved.url}\n`);
      return resolved;
    },
  });
}
