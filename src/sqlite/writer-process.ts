// A stand-in for Open WebUI's writer, run as its own process: adds a chat (chat row + chat_message
// rows, one transaction, like Open WebUI's message upserts) every `intervalMs`, and measures how long
// each write transaction takes. Stops on SIGTERM/SIGINT or after `durationMs`, then prints one JSON
// line: { writes, p50_ms, p99_ms, max_ms, errors }.
import Database from 'better-sqlite3';
import { addChat, rng } from './sample.ts';

const [path, intervalArg, durationArg, seedArg, userId, busyArg, syncArg] = process.argv.slice(2);
if (!path) {
  process.stderr.write(
    'usage: writer-process DB_PATH [INTERVAL_MS] [DURATION_MS] [SEED] [USER_ID] [BUSY_TIMEOUT_MS] [SYNCHRONOUS]\n',
  );
  process.exit(2);
}
const intervalMs = Number(intervalArg ?? 50);
const durationMs = Number(durationArg ?? 0);
// Open WebUI 0.9+ waits 5 s for a lock (busy_timeout); journal_mode is left as the file has it.
const busyMs = Number(busyArg || 5000);
const db = new Database(path, { timeout: busyMs });
db.pragma('foreign_keys = OFF'); // as Open WebUI
// Open WebUI 0.9+ uses synchronous=NORMAL; OFF takes the disk out of the measurement (tests).
db.pragma(`synchronous = ${syncArg === 'off' ? 'OFF' : 'NORMAL'}`);
const r = rng(Number(seedArg ?? Date.now() % 100000));
const user =
  userId || ((db.prepare('SELECT id FROM "user" LIMIT 1').get() as { id: string } | undefined)?.id ?? 'writer');
const lat: number[] = [];
let errors = 0;
let stopping = false;
const started = Date.now();

function once() {
  const t0 = process.hrtime.bigint();
  try {
    db.transaction(() => addChat(db, r, { userId: user, messages: 2 + r.int(6), title: `live chat ${lat.length}` }))();
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  } catch {
    errors++;
  }
}

function finish() {
  if (stopping) return;
  stopping = true;
  const s = lat.slice().sort((a, b) => a - b);
  const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : 0);
  process.stdout.write(
    `${JSON.stringify({
      writes: s.length,
      p50_ms: q(0.5),
      p99_ms: q(0.99),
      max_ms: s.length ? s[s.length - 1] : 0,
      errors,
    })}\n`,
  );
  db.close();
  process.exit(0);
}

process.on('SIGTERM', finish);
process.on('SIGINT', finish);
process.stdout.write('ready\n');
const timer = setInterval(() => {
  if (stopping) return;
  once();
  if (durationMs && Date.now() - started >= durationMs) {
    clearInterval(timer);
    finish();
  }
}, intervalMs);
