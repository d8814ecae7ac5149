/** Exit codes of every owui-sync command (README "Exit codes"). */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  conflicts: 3,
  differences: 4,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * An error an operator will read: what happened, and what to do next.
 * `exitCode` is what the CLI exits with when this error ends a command.
 */
export class OwuiError extends Error {
  readonly hint?: string;
  readonly exitCode: ExitCodeValue;
  constructor(message: string, opts: { hint?: string; exitCode?: ExitCodeValue; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'OwuiError';
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? ExitCode.failed;
  }
}

/** A usage or configuration problem: exit code 2. */
export class ConfigError extends OwuiError {
  constructor(message: string, hint?: string) {
    super(message, { hint, exitCode: ExitCode.usage });
    this.name = 'ConfigError';
  }
}

/** Something named by the caller does not exist (a client, a conflict): exit code 2, HTTP 404. */
export class NotFoundError extends OwuiError {
  constructor(message: string, hint?: string) {
    super(message, { hint, exitCode: ExitCode.usage });
    this.name = 'NotFoundError';
  }
}

/**
 * A batch of a leader whose term is over, or of a job that is no longer this node's: it must not land. Not
 * transient: the run stops. Thrown by the cluster's fences, recognised by the engine that calls them.
 */
export class FencedError extends OwuiError {
  constructor(message: string) {
    super(message, { hint: 'another node leads this cluster now; it carries on from the last committed batch' });
    this.name = 'FencedError';
  }
}

/** Is this error, or one it wraps (its `cause` chain), of the given class? */
export function causedBy(err: unknown, cls: abstract new (...args: never[]) => Error): boolean {
  for (let e: unknown = err; e instanceof Error; e = (e as Error).cause) if (e instanceof cls) return true;
  return false;
}

/** Was this error (or one it wraps) a fence's refusal? */
export const isFenced = (err: unknown): boolean => causedBy(err, FencedError);

/** Best-effort message of an unknown thrown value, never a stack. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Prefix an error with where it happened, keeping its hint and exit code. */
export function withContext(context: string, err: unknown): OwuiError {
  if (err instanceof OwuiError) {
    return new OwuiError(`${context}: ${err.message}`, {
      hint: err.hint,
      exitCode: err.exitCode,
      cause: err.cause ?? err,
    });
  }
  return new OwuiError(`${context}: ${messageOf(err)}`, { cause: err });
}
