import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Every module of this package runs two folders below the package's root: src/<folder>/ from the sources (tests,
// tsx) and dist/<folder>/ when compiled (scripts/build.mjs bundles into dist/cli/, dist/chunks/ and
// dist/sqlite/). So one rule finds the package root and the code root from here, whichever module this is
// bundled into.
const HERE = import.meta.url;

/** The package's folder: package.json, sql/, templates/, scripts/. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', HERE));

/** A file the package ships beside its code: `packagePath('sql')`, `packagePath('templates', 'x.json')`. */
export const packagePath = (...parts: string[]): string => path.join(PACKAGE_ROOT, ...parts);

/** A file of the code tree (src/ or dist/), such as `codePath('sqlite', 'openwebui-v0.11.sql')`. */
export const codePath = (...parts: string[]): string => path.join(fileURLToPath(new URL('../', HERE)), ...parts);

/** A module of the code tree in the form that runs now: `.ts` from the sources, `.js` compiled. */
export const codeModule = (relativeWithoutExtension: string): string =>
  codePath(relativeWithoutExtension + (HERE.endsWith('.ts') ? '.ts' : '.js'));

let version: string | undefined;
/** The package's version, read once. */
export function packageVersion(): string {
  version ??= (JSON.parse(fs.readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;
  return version;
}
