#!/usr/bin/env node
// The executable: runs the compiled JavaScript in dist/ (`npm run build`; npm test and npm run demo build it
// when it is missing or older than the sources).
import fs from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!fs.existsSync(entry)) {
  process.stderr.write(
    `error: owui-sync is not built: ${entry.pathname} is missing\nhint: run npm run build in the package folder (a released package ships dist/)\n`,
  );
  process.exit(2);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
