import { z } from 'zod';
import { type Env, resolveSetting } from './config.ts';
import { ConfigError } from './errors.ts';

// Settings checked with zod, in a module of their own: zod loads only with the verbs that read them, never at the
// CLI's start (test/lint.test.ts keeps the start free of it).

/**
 * A numeric setting, checked with zod: unset gives `dflt`; anything else must be a number (a whole one when
 * `integer`) from `min` to `max`, or it is a ConfigError naming the setting and the range.
 */
export function numberSetting(
  name: string,
  text: string | undefined,
  dflt: number,
  min: number,
  max: number,
  integer = false,
): number {
  if (text === undefined) return dflt;
  const n = z.number().min(min).max(max);
  const r = z
    .string()
    .trim()
    .min(1)
    .transform(Number)
    .pipe(integer ? n.int() : n)
    .safeParse(text);
  if (!r.success)
    throw new ConfigError(
      `${name} is ${JSON.stringify(text)}: expected ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}`,
      `fix ${name} (flag or environment) and start again`,
    );
  return r.data;
}

/**
 * What a sync reads from its settings rather than its caller: resolved once, where a command or the agent
 * starts, and passed in with the run's options (the engine reads no environment).
 */
export interface SyncSettings {
  /**
   * How long one read statement may hold a rollback-journal tenant's shared lock, in ms; null: no time bound,
   * only rows and bytes (OWUI_SYNC_READ_STATEMENT_MS, 0 for none; the engine's default when unset).
   */
  readStatementMs?: number | null;
}

export function syncSettings(env: Env = process.env): SyncSettings {
  const v = resolveSetting('OWUI_SYNC_READ_STATEMENT_MS', undefined, env);
  if (v === undefined) return {};
  const ms = numberSetting('OWUI_SYNC_READ_STATEMENT_MS', v, 0, 0, 1000);
  return { readStatementMs: ms === 0 ? null : ms };
}
