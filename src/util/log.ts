import { Writable } from 'node:stream';
import pino from 'pino';
import { redactText } from './redact.ts';

export type Logger = pino.Logger;

/** Problems in capitals, the rest quiet: what a person scans a terminal or the menu's log tail for. */
const LEVEL_NAMES: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/**
 * Structured JSON logs (one object a line, for containers and log shippers), or readable lines on a
 * terminal. LOG_FORMAT=json|pretty overrides the choice; LOG_LEVEL sets the level (info). Secrets are
 * kept out twice: known secret-bearing keys are censored, and every line has URLs' passwords removed.
 */
export function createLogger(o: {
  name: string;
  format?: string;
  level?: string;
  out?: NodeJS.WritableStream;
  base?: Record<string, unknown>;
}): Logger {
  const out = o.out ?? process.stdout;
  const pretty = o.format ? o.format === 'pretty' : !!(out as { isTTY?: boolean }).isTTY;
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const line = redactText(chunk.toString('utf8'));
      out.write(pretty ? `${readableLogLine(line.replace(/\n$/, ''))}\n` : line);
      cb();
    },
  });
  return pino(
    {
      name: o.name,
      level: o.level ?? 'info',
      base: { pid: process.pid, ...o.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['password', '*.password', 'authorization', '*.authorization', 'token', '*.token', 'secret', '*.secret'],
        censor: '[redacted]',
      },
    },
    dest,
  );
}

/**
 * A log line (pino JSON) as `HH:MM:SS level message  key=value ...`: the terminal's format, and the menu's tail of
 * an agent's log file. Not JSON: returned as it is.
 */
export function readableLogLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  // The `event` name is for scripts (docs/agent.md "Logs"); a person reads the message beside it.
  const { level, time, msg, pid: _pid, name: _name, hostname: _h, node_id: _n, event: _e, v: _v, ...rest } = o;
  const t = typeof time === 'number' || typeof time === 'string' ? new Date(time).toISOString().slice(11, 19) : '';
  const extra = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${t} ${(LEVEL_NAMES[level as number] ?? String(level ?? '')).padEnd(5)} ${String(msg ?? '')}${extra ? `  ${extra}` : ''}`;
}
