#!/bin/sh
":" //; exec node --max-semi-space-size=1 "$0" "$@"
// The executable: runs the compiled JavaScript in dist/ (`npm run build`; npm test and npm run demo build it
// when it is missing or older than the sources).
//
// Run as a program, it is a shell script for its first two lines: they start Node with the V8 options owui-sync
// needs (src/util/memory.ts NODE_FLAGS: a small young generation keeps a sync's memory bounded), which a
// `#!/usr/bin/env node` line cannot pass everywhere (`env -S` is missing from BusyBox). Node skips the first line
// and reads the second as a string and a comment. `node bin/owui-sync.js` works as well, without those options.
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
