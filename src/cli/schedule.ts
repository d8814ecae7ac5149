import type { ScheduleState } from '../ops/schedule.ts';
import { formatInterval, parseInterval } from '../util/config.ts';
import { Command } from './commander.ts';
import { databaseUrl, databaseUrlOption } from './connections.ts';
import { type Io, printJson } from './output.ts';

// The scripted twins of the menu's Start/Resume, Pause and interval choice (legacy Sync Management 2 and 3).

const INTERVALS = '1m, 5m, 1h, 4h or 1d, or seconds (60, 300, 3600, 14400, 86400); from 1m to 7d';

async function run(
  io: Io,
  cmd: Command,
  flag: string | undefined,
  act: (ops: typeof import('../ops/schedule.ts'), sql: import('../pg/connect.ts').Sql) => Promise<ScheduleState>,
  say: (s: ScheduleState) => string,
): Promise<void> {
  const url = databaseUrl(io, flag);
  const [{ openPg }, ops] = await Promise.all([import('../pg/connect.ts'), import('../ops/schedule.ts')]);
  const sql = await openPg(url, 'the database connection');
  try {
    const s = await act(ops, sql);
    if (cmd.optsWithGlobals().json) printJson(io, s);
    else io.out(say(s));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

const nextRun = (s: ScheduleState) =>
  s.sync_enabled ? `; next run due ${s.next_sync_at ?? 'when the leader next schedules'}` : '';

export function scheduleCommands(io: Io): Command[] {
  const interval = new Command('interval')
    .description('set how often a client is synced (the agents pick it up at once)')
    .argument('<name>', 'client name')
    .argument('<every>', INTERVALS)
    .option('--json', 'print the result as JSON')
    .addOption(databaseUrlOption())
    .addHelpText('after', '\nA paused client stays paused. Example:\n  owui-sync interval chat-example-com 1h')
    .action(async (name: string, every: string, opts: { databaseUrl?: string }, cmd: Command) => {
      const seconds = parseInterval(every);
      await run(
        io,
        cmd,
        opts.databaseUrl,
        (ops, sql) => ops.setInterval(sql, name, seconds),
        (s) =>
          `${s.client}: syncs every ${formatInterval(s.sync_interval)}${s.sync_enabled ? nextRun(s) : ' once resumed (it is paused)'}`,
      );
    });
  const pause = new Command('pause')
    .description("stop a client's scheduled syncs (a run under way finishes; the mirror and its history stay)")
    .argument('<name>', 'client name')
    .option('--json', 'print the result as JSON')
    .addOption(databaseUrlOption())
    .addHelpText('after', '\nResume with: owui-sync resume NAME')
    .action(async (name: string, opts: { databaseUrl?: string }, cmd: Command) => {
      await run(
        io,
        cmd,
        opts.databaseUrl,
        (ops, sql) => ops.pause(sql, name),
        (s) => `${s.client}: paused (no scheduled syncs; owui-sync sync ${s.client} still runs one by hand)`,
      );
    });
  const resume = new Command('resume')
    .description("start (or resume) a client's scheduled syncs, at its interval or a new one")
    .argument('<name>', 'client name')
    .option('--interval <every>', INTERVALS)
    .option('--json', 'print the result as JSON')
    .addOption(databaseUrlOption())
    .addHelpText('after', '\nExample:\n  owui-sync resume chat-example-com --interval 5m')
    .action(async (name: string, opts: { interval?: string; databaseUrl?: string }, cmd: Command) => {
      const seconds = opts.interval === undefined ? undefined : parseInterval(opts.interval);
      await run(
        io,
        cmd,
        opts.databaseUrl,
        (ops, sql) => ops.resume(sql, name, seconds),
        (s) => `${s.client}: active, syncs every ${formatInterval(s.sync_interval)}${nextRun(s)}`,
      );
    });
  return [interval, pause, resume];
}
