// Patches postgres.js 3.4.9 (porsager/postgres) for six connection-loss defects, until upstream merges
// a fix (issues #1066, #1154, #1208, #1186, #1216; pull requests #1168, #1176, #1209, #1155, #1215):
//  1. nextWrite() runs from setImmediate after closed() has set socket = null, and throws a TypeError
//     no caller can catch: the process dies. The guard settles the pending query with CONNECTION_CLOSED
//     instead, so the caller's retry sees an ordinary transient error.
//  2. closed() clears the scheduled flush but leaves nextWriteTimer set, so after a reconnect write()
//     believes a flush is pending and never sends the startup message: the connection hangs.
//  4. closed() leaves the row counter of an interrupted result set as it was: the first query after the
//     reconnect puts its rows behind that many holes (an array that starts with undefined entries).
//  5. a COPY ... FROM STDIN the server refuses after CopyDone (a constraint, a bad value) never calls the
//     stream's final callback, so whoever awaits the stream waits forever. errored() now settles it.
//  3. closed(hadError) rejects nothing, trusting the earlier 'error' event to have done it. A query
//     started between that 'error' and the 'close' (a quick retry) goes out on the dying socket and is
//     never settled: the caller waits forever. closed() now settles whatever is still in flight.
//  6. (index.js) sql.begin() rejects when its connection closes, but its callback goes on running. Its later
//     statements, and its automatic COMMIT or ROLLBACK, then go out on the pool's reconnected session: outside
//     any transaction, or inside the next one (a retry's), which its COMMIT ends early. The transaction now
//     keeps the close error and rejects every statement after it, the ones queued in it included.
// Idempotent; fails loudly if the driver's code no longer looks as expected (after an upgrade).
// owui-sync refuses to start on an unpatched driver (src/pg/driver.ts), naming this script as the repair.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The postgres.js that owui-sync loads, wherever npm put it (nested in a global install, or hoisted).
const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'package.json');
let root;
try {
  root = path.dirname(createRequire(here).resolve('postgres'));
  while (
    !fs.existsSync(path.join(root, 'package.json')) ||
    JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).name !== 'postgres'
  ) {
    if (path.dirname(root) === root) throw new Error('no postgres package.json');
    root = path.dirname(root);
  }
} catch {
  console.error('patch-postgres: the postgres package is not installed; run npm ci');
  process.exit(1);
}
const MARK = '/* owui-sync patch: connection loss */';
const builds = ['src', 'cjs/src', 'cf/src'].filter((b) => fs.existsSync(path.join(root, b, 'connection.js')));
if (builds.length === 0) {
  console.error(`patch-postgres: no connection.js under ${root}; run npm ci`);
  process.exit(1);
}

/** Apply [old, new] edits to a file, each once (an edit already in place is skipped); fail loudly on unknown code. */
function patch(file, edits) {
  let s = fs.readFileSync(file, 'utf8');
  for (const [from, to] of edits) {
    if (s.includes(to)) continue;
    if (s.split(from).length !== 2) {
      console.error(`patch-postgres: ${file} does not look like postgres.js 3.4.9; review scripts/patch-postgres.mjs`);
      process.exit(1);
    }
    s = s.replace(from, () => to);
  }
  fs.writeFileSync(file, s);
}

const connectionEdits = [
  [
    '  function nextWrite(fn) {\n',
    `  function nextWrite(fn) {\n    ${MARK}\n    if (socket === null) {\n      nextWriteTimer !== null && clearImmediate(nextWriteTimer)\n      chunk = nextWriteTimer = null\n      error(Errors.connection('CONNECTION_CLOSED', options))\n      return false\n    }\n`,
  ],
  [
    '    incomings = null\n    clearImmediate(nextWriteTimer)\n',
    `    incomings = null\n    clearImmediate(nextWriteTimer)\n    nextWriteTimer = null ${MARK}\n    chunk = null\n    rows = 0\n    result = new Result()\n`,
  ],
  [
    "    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))\n",
    `    ;(query || initial || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket)) ${MARK}\n`,
  ],
  ['  function errored(err) {\n', `  function errored(err) {\n    final && (final(err), final = null) ${MARK}\n`],
  // Not a defect, a cost: each chunk of a COPY was copied into a new buffer behind its 5-byte message header
  // (b().d().raw(chunk)), a third of the main thread's time in a full sync. The header and the chunk are written
  // as they are, corked into one send.
  [
    '    stream = new Stream.Writable({\n      autoDestroy: true,\n      write(chunk, encoding, callback) {\n        socket.write(b().d().raw(chunk).end(), callback)\n      },\n',
    `    stream = new Stream.Writable({\n      autoDestroy: true,\n      write(chunk, encoding, callback) { ${MARK}\n        const head = Buffer.allocUnsafe(5)\n        head[0] = 100\n        head.writeUInt32BE(chunk.length + 4, 1)\n        socket.cork()\n        socket.write(head)\n        socket.write(chunk, callback)\n        socket.uncork()\n      },\n`,
  ],
];
const indexEdits = [
  [
    '    const queries = Queue()\n    let savepoints = 0\n      , connection\n',
    `    const queries = Queue()\n    let savepoints = 0\n      , lost = null ${MARK}\n      , connection\n`,
  ],
  [
    '        new Promise((_, reject) => connection.onclose = reject)\n',
    `        new Promise((_, reject) => connection.onclose = e => { ${MARK}\n          lost = e\n          while (queries.length) queries.shift().reject(e)\n          reject(e)\n        })\n`,
  ],
  [
    '      function handler(q) {\n        q.catch(e => uncaughtError || (uncaughtError = e))\n',
    `      function handler(q) {\n        q.catch(e => uncaughtError || (uncaughtError = e))\n        if (lost) return q.reject(lost) ${MARK}\n`,
  ],
];
for (const b of builds) {
  patch(path.join(root, b, 'connection.js'), connectionEdits);
  patch(path.join(root, b, 'index.js'), indexEdits);
}
console.log(`patch-postgres: ${builds.length * 2} files patched`);
