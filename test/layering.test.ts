import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '..');
const SRC = join(ROOT, 'src');

/** The request path: what a serving worker runs to answer a request. */
const REQUEST_PATH = ['server', 'static'];
/** Control-plane folders the request path may name in types only. */
const CONTROL_PLANE = ['deploy', 'acme', 'state', 'config'];

interface Violation {
  line: number;
  specifier: string;
}

/**
 * The imports of `source` (a file at `file`) that load a module at run time
 * from one of `forbidden` (folders under src/): value imports, side-effect
 * imports, re-exports and dynamic `import()`. `import type`, and imports
 * whose every name is marked `type`, are erased by type stripping and load
 * nothing.
 */
function valueImportsFrom(file: string, source: string, forbidden: readonly string[]): Violation[] {
  const parsed = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: Violation[] = [];
  const check = (node: ts.Node, specifier: ts.Expression | undefined): void => {
    if (specifier === undefined || !ts.isStringLiteralLike(specifier) || !specifier.text.startsWith('.')) return;
    const target = relative(SRC, resolve(dirname(file), specifier.text)).split(sep);
    if (target[0] !== undefined && forbidden.includes(target[0])) {
      found.push({ line: parsed.getLineAndCharacterOfPosition(node.getStart()).line + 1, specifier: specifier.text });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      if (!isTypeOnlyImport(node)) check(node, node.moduleSpecifier);
    } else if (ts.isExportDeclaration(node)) {
      if (!node.isTypeOnly && !(node.exportClause !== undefined && ts.isNamedExports(node.exportClause) && node.exportClause.elements.length > 0 && node.exportClause.elements.every((element) => element.isTypeOnly))) {
        check(node, node.moduleSpecifier);
      }
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      check(node, node.arguments[0]);
    } else if (ts.isImportEqualsDeclaration(node) && !node.isTypeOnly && ts.isExternalModuleReference(node.moduleReference)) {
      check(node, node.moduleReference.expression);
    }
    ts.forEachChild(node, visit);
  };
  visit(parsed);
  return found;
}

function isTypeOnlyImport(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  // `import './x.ts'` runs the module.
  if (clause === undefined) return false;
  if (clause.isTypeOnly) return true;
  if (clause.name !== undefined) return false;
  const bindings = clause.namedBindings;
  return bindings !== undefined && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((element) => element.isTypeOnly);
}

async function sourceFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts')) files.push(join(entry.parentPath, entry.name));
  }
  return files.sort();
}

async function violationsIn(folders: readonly string[]): Promise<Map<string, Violation[]>> {
  const byFile = new Map<string, Violation[]>();
  for (const folder of folders) {
    for (const file of await sourceFiles(join(SRC, folder))) {
      const found = valueImportsFrom(file, await readFile(file, 'utf8'), CONTROL_PLANE);
      if (found.length > 0) byFile.set(relative(ROOT, file).split(sep).join('/'), found);
    }
  }
  return byFile;
}

describe('layering', () => {
  it('no file of the request path (src/server, src/static) loads a module of deploy/, acme/, state/ or config/', async () => {
    const violations = await violationsIn(REQUEST_PATH);
    assert.deepEqual(
      [...violations].map(([file, found]) => `${file}: ${found.map((violation) => `line ${violation.line} imports ${violation.specifier}`).join(', ')}`),
      [],
      'import these as `import type`, or declare an interface in server/ that the control plane implements and the caller passes in',
    );
  });

  it('tells imports that load a module from those erased as types', () => {
    const file = join(SRC, 'server', 'example.ts');
    const cases: Array<[string, boolean]> = [
      ["import type { ResolvedConfig } from '../config/resolved-config.ts';", false],
      ["import { type ResolvedConfig, type ResolvedSite } from '../config/resolved-config.ts';", false],
      ["export type { Deployer } from '../deploy/deployer.ts';", false],
      ["export { type Deployer } from '../deploy/deployer.ts';", false],
      ["import { startControlPlane } from '../deploy/control-plane.ts';", true],
      ["import { type Locker, createFileLocker } from '../acme/file-locker.ts';", true],
      ["import * as state from '../state/state-store.ts';", true],
      ["import openStore from '../state/state-store.ts';", true],
      ["import '../acme/acme-session.ts';", true],
      ["export { createChallengeStore } from '../acme/challenge-store.ts';", true],
      ["export * from '../config/load-config.ts';", true],
      ["const store = await import('../state/state-store.ts');", true],
      // The request path's own folders, release reading and Node are fine.
      ["import { respond } from '../static/respond.ts';", false],
      ["import { readManifest } from '../releases/read-manifest.ts';", false],
      ["import { readFile } from 'node:fs/promises';", false],
      ["import { BerthError } from '../errors.ts';", false],
      // A folder whose name only starts like a forbidden one.
      ["import { x } from '../configuration/x.ts';", false],
    ];
    for (const [source, loads] of cases) {
      assert.equal(valueImportsFrom(file, source, CONTROL_PLANE).length > 0, loads, source);
    }
  });
});
