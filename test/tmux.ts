import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { onCleanup, trackChild } from './helpers.ts';

/** Whether tmux is here (.ci/run installs it); the real-terminal tests skip with this message otherwise. */
export const HAVE_TMUX = spawnSync('tmux', ['-V']).status === 0;
export const NO_TMUX = 'tmux is not installed (apt-get install tmux): the real-terminal menu tests are skipped';

/** tmux's names for keys; anything else is sent as literal text. */
const KEY_NAMES = new Set(['Enter', 'Escape', 'Up', 'Down', 'Left', 'Right', 'BSpace', 'PPage', 'NPage', 'Tab', 'C-c']);

/**
 * A real terminal: a tmux server of its own (its own socket), one pane running `command` at a fixed size. Keys
 * go in with send-keys, the screen comes out with capture-pane. The server is killed after the test file.
 */
export class Tmux {
  private constructor(readonly socket: string) {}

  static start(command: string, o: { cols?: number; rows?: number } = {}): Tmux {
    const t = new Tmux(`owui-t-${crypto.randomBytes(4).toString('hex')}`);
    t.tmux(['new-session', '-d', '-x', String(o.cols ?? 80), '-y', String(o.rows ?? 24), command]);
    trackChild(Number(t.tmux(['display-message', '-p', '#{pid}']).trim()));
    onCleanup(() => t.kill());
    return t;
  }

  tmux(args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
  }

  /** The screen as text; with escapes, the colours and attributes too. */
  screen(escapes = false): string {
    return this.tmux(['capture-pane', '-p', ...(escapes ? ['-e'] : [])]);
  }

  /** Each key on its own, as a person types: tmux key names (Enter, Escape, Down) or text. */
  async keys(...keys: string[]): Promise<void> {
    await sleep(150);
    for (const k of keys) {
      this.tmux(['send-keys', ...(KEY_NAMES.has(k) ? [] : ['-l']), k]);
      await sleep(k === 'Escape' ? 250 : 80);
    }
  }

  async waitFor(what: string | RegExp, ms = 30_000): Promise<string> {
    const t0 = Date.now();
    for (;;) {
      const s = this.screen();
      if (typeof what === 'string' ? s.includes(what) : what.test(s)) return s;
      if (Date.now() - t0 > ms) throw new Error(`the terminal never showed ${String(what)} within ${ms} ms:\n${s}`);
      await sleep(150);
    }
  }

  kill(): void {
    spawnSync('tmux', ['-L', this.socket, 'kill-server']);
  }
}
