/** The oldest Node.js major version Berth runs on (package.json `engines`). */
export const NODE_MAJOR_NEEDED = 24;

/**
 * The one line to print when `version` (as in `process.versions.node`) is
 * too old, else undefined. Node 22.18 and 23.6 on run TypeScript and so
 * reach this check; Berth then needs APIs they lack, and would fail later
 * with a less clear error. Older Node stops before any of Berth's code
 * runs (`ERR_UNKNOWN_FILE_EXTENSION`), which the README explains.
 */
export function nodeVersionProblem(version: string): string | undefined {
  const major = Number.parseInt(version, 10);
  if (Number.isInteger(major) && major >= NODE_MAJOR_NEEDED) return undefined;
  return `berth: needs Node.js ${NODE_MAJOR_NEEDED} or later, and this is Node.js ${version}. \`npm ci\` installs Node ${NODE_MAJOR_NEEDED} into node_modules: run Berth through npm (\`npm run berth -- <command>\`, \`npx berth <command>\`) or as \`node_modules/.bin/node src/cli/main.ts <command>\`, or install Node.js ${NODE_MAJOR_NEEDED}.`;
}
