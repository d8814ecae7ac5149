import { messageOf, OwuiError } from '../util/errors.ts';
import { redactText } from '../util/redact.ts';
import { paint, wantsColour } from './style.ts';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  isTTY: boolean;
}

export const processIo: Io = {
  out: (s) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`),
  err: (s) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`),
  isTTY: !!process.stderr.isTTY,
};

/**
 * A reader that goes away (`owui-sync --help | head -1`) makes the next write fail with EPIPE, emitted as an
 * 'error' event that would otherwise end the process with a stack trace. Nobody is left to read what we would
 * print, so end quietly.
 */
export function endQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
}

export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2));
}

/** error: what happened / hint: what to do. Never a stack (OWUI_SYNC_DEBUG=1 adds it), never a password. */
export function printError(io: Io, err: unknown): void {
  const msg = redactText(messageOf(err));
  const c = io === processIo && wantsColour(process.stderr);
  io.err(`${paint(c, 'red', 'error:')} ${msg}`);
  if (err instanceof OwuiError && err.hint) io.err(`${paint(c, 'yellow', 'hint:')} ${redactText(err.hint)}`);
  if (process.env.OWUI_SYNC_DEBUG === '1' && err instanceof Error && err.stack) io.err(redactText(err.stack));
}

export const fmtInt = (n: number) => n.toLocaleString('en-US');
export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

/** Plain aligned columns (no box drawing: it survives any SSH terminal and copy-paste). */
export function table(rows: (string | number)[][], header: string[]): string {
  const bold = (t: string) => paint(wantsColour(process.stdout), 'bold', t);
  const all = [header, ...rows.map((r) => r.map(String))];
  const w = header.map((_, i) => Math.max(...all.map((r) => String(r[i] ?? '').length)));
  return all
    .map((r, ri) =>
      r
        .map((c, i) => (ri === 0 ? bold(String(c).padEnd(w[i]!)) : String(c).padEnd(w[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** One status line on stderr, redrawn at most 10 times a second; only on a TTY. */
export class ProgressLine {
  private last = 0;
  private shown = false;
  constructor(private readonly io: Io) {}
  update(text: string, force = false): void {
    if (!this.io.isTTY) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const cols = process.stderr.columns || 80;
    process.stderr.write(`\r\x1b[2K${text.slice(0, cols - 1)}`);
    this.shown = true;
  }
  done(): void {
    if (this.shown) process.stderr.write('\r\x1b[2K');
    this.shown = false;
  }
}

export function bar(fraction: number, width = 20): string {
  const f = Math.max(0, Math.min(1, fraction));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}
