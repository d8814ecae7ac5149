import { Box, Text, useInput } from 'ink';
import { createContext, type ReactNode, useCallback, useContext, useEffect, useRef, useState } from 'react';
import { messageOf } from '../util/errors.ts';
import { redactText } from '../util/redact.ts';

// The menu's building blocks: colour that honours NO_COLOR, a list with the keys every screen shares, data that
// loads and refreshes, and errors shown as messages.

type Colour = 'green' | 'red' | 'yellow' | 'cyan' | 'gray' | 'magenta';

export interface MenuContextValue {
  colour: boolean;
  /** A screen that takes typed text sets this, so q, r and ? reach the text and not the menu. */
  setCapture: (on: boolean) => void;
  /** Bumped by `r` and by the refresh timer. */
  tick: number;
  /** Leave the current screen. */
  back: () => void;
  /** A line in the status bar for a few seconds (what an action did). */
  flash: (text: string) => void;
}

export const MenuContext = createContext<MenuContextValue>({
  colour: false,
  setCapture: () => {},
  tick: 0,
  back: () => {},
  flash: () => {},
});

export const useMenu = () => useContext(MenuContext);

/**
 * Where the current screen's list cursor is: coming back to the screen (Esc from the screen it opened, or the
 * help closed) puts the cursor there again, not at the top. The app keeps one per screen of its stack and forgets
 * it when that screen is left by Esc.
 */
export interface ListMemory {
  picked?: string;
  pick: (key: string) => void;
}
export const ListMemoryContext = createContext<ListMemory>({ pick: () => {} });

/** A colour name, or nothing when colour is off (Ink's own colour library does not read NO_COLOR). */
export function useColour(): (c: Colour) => Colour | undefined {
  const { colour } = useMenu();
  return (c) => (colour ? c : undefined);
}

/** What the operator sees of an error: its message, its hint, no stack, no password. */
export function describeError(err: unknown): { message: string; hint: string | null } {
  const hint = (err as { hint?: string }).hint;
  return { message: redactText(messageOf(err)), hint: hint ? redactText(hint) : null };
}

export function ErrorLine({ error }: { error: unknown }) {
  const c = useColour();
  const e = describeError(error);
  return (
    <Box flexDirection="column">
      <Text color={c('red')} bold>
        error: {e.message}
      </Text>
      {e.hint ? <Text color={c('yellow')}>hint: {e.hint}</Text> : null}
    </Box>
  );
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Load data, again at every refresh tick (and `r`); keeps the last data while it reloads; never throws. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], opts: { live?: boolean } = {}): Loaded<T> {
  const { tick } = useMenu();
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [nonce, setNonce] = useState(0);
  const alive = useRef(true);
  useEffect(
    () => () => {
      alive.current = false;
    },
    [],
  );
  // What is read changes with the caller's deps (a new generation: answers for the old one are dropped). Within a
  // generation, an answer is shown unless a later read's answer was shown first: a refresh tick must not throw
  // away a read still under way, or a screen whose reads take longer than the refresh interval (PostgreSQL slow
  // or down, reconnecting) would say "loading…" for ever.
  const gen = useRef({ deps, n: 0 });
  if (deps.length !== gen.current.deps.length || deps.some((d, i) => !Object.is(d, gen.current.deps[i])))
    gen.current = { deps, n: gen.current.n + 1 };
  const reads = useRef({ gen: -1, started: 0, shown: 0, running: 0, nonce });
  // Loads again on the caller's deps, the refresh tick and reload().
  useEffect(() => {
    const g = gen.current.n;
    const r = reads.current;
    const forced = r.nonce !== nonce;
    r.nonce = nonce;
    if (r.gen !== g) Object.assign(r, { gen: g, running: 0, shown: r.started });
    // A refresh tick while a read still runs: that read's answer comes first, and reads do not pile up.
    else if (r.running > 0 && !forced) return;
    const n = ++r.started;
    r.running++;
    setState((s) => ({ ...s, loading: true }));
    const settle = (next: (s: { data?: T; error?: unknown; loading: boolean }) => typeof s) => {
      if (r.gen !== g) return;
      r.running--;
      if (!alive.current || n < r.shown) return;
      r.shown = n;
      setState(next);
    };
    load().then(
      (data) => settle(() => ({ data, loading: false })),
      (error) => settle((s) => ({ data: s.data, error, loading: false })),
    );
  }, [...deps, opts.live === false ? 0 : tick, nonce]);
  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** What a screen shows while its data has not come yet: the error of the read, or "loading…". */
export function Pending({ state }: { state: Pick<Loaded<unknown>, 'error'> }) {
  return state.error ? <ErrorLine error={state.error} /> : <Text dimColor>loading…</Text>;
}

export interface Action {
  /** What runs now ("resolving", "stop"), or null. */
  busy: string | null;
  /** The last action's error (cleared when the next one succeeds). */
  error: unknown;
  setError: (e: unknown) => void;
  /** Run an action: busy while it runs; on success `done` gets its answer, on failure its error is kept. */
  run: <T>(what: string, action: () => Promise<T>, done?: (answer: T) => void) => void;
}

/** An action a screen starts (a key, a list choice): its busy line and its error, written once here. */
export function useAction(): Action {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const alive = useRef(true);
  useEffect(
    () => () => {
      alive.current = false;
    },
    [],
  );
  const run = useCallback(<T,>(what: string, action: () => Promise<T>, done?: (answer: T) => void) => {
    setBusy(what);
    Promise.resolve()
      .then(action)
      .then(
        (answer) => {
          if (!alive.current) return;
          setBusy(null);
          setError(null);
          done?.(answer);
        },
        (e: unknown) => {
          if (!alive.current) return;
          setBusy(null);
          setError(e);
        },
      );
  }, []);
  return { busy, error, setError, run };
}

/** The busy line and the error of an action, under the screen. */
export function ActionLines({ action }: { action: Pick<Action, 'busy' | 'error'> }) {
  return (
    <>
      {action.busy ? <Text>{action.busy}…</Text> : null}
      {action.error ? <ErrorLine error={action.error} /> : null}
    </>
  );
}

export interface ListItem {
  key: string;
  label: string;
  /** Shown after the label, dimmed. */
  note?: string;
  colour?: Colour;
  disabled?: boolean;
}

type Key = Parameters<Parameters<typeof useInput>[0]>[1];

/**
 * useInput, one keystroke at a time: Ink hands over a burst of plain keys (typed ahead over a slow SSH link,
 * or sent by tmux) as one string, "jj\r"; this splits it so each key counts.
 */
export function useKeys(handler: (input: string, key: Key) => void, opts: { isActive?: boolean } = {}) {
  useInput((input, key) => {
    if (input.length > 1 && !key.ctrl && !key.meta && !input.includes('\u001B')) {
      for (const ch of input) {
        const k: Key = { ...key, return: ch === '\r' || ch === '\n', backspace: ch === '\b', delete: ch === '\x7f' };
        handler(k.return || k.backspace || k.delete ? '' : ch, k);
      }
    } else handler(input, key);
  }, opts);
}

/**
 * A list: arrows or j/k move, Enter picks, / filters by typing (Enter or Esc ends the filter), PgUp/PgDn jump.
 * Shows at most `height` rows and scrolls.
 */
export function List({
  items,
  onSelect,
  height = 12,
  isActive = true,
  initial,
}: {
  items: ListItem[];
  onSelect: (item: ListItem) => void;
  height?: number;
  isActive?: boolean;
  initial?: string;
}) {
  const c = useColour();
  const { setCapture } = useMenu();
  const memory = useContext(ListMemoryContext);
  // Refs, not state: a burst of keys ("jj\r") is handled in one go and Enter must see the moves before it.
  const filter = useRef<string | null>(null);
  /** The filter is being typed (else it is applied, or there is none). */
  const typing = useRef(false);
  // The cursor is an item (its key), so it stays on it when the list loads or refreshes with items added or
  // removed above it; the index is the fallback when that item is gone.
  const wanted = useRef<string | undefined>(memory.picked ?? initial);
  const index = useRef(0);
  const [, redraw] = useState(0);
  const shownOf = () =>
    filter.current ? items.filter((i) => i.label.toLowerCase().includes(filter.current!.toLowerCase())) : items;
  const cursorIn = (shown: ListItem[]) => {
    const i = wanted.current === undefined ? -1 : shown.findIndex((x) => x.key === wanted.current);
    if (i >= 0) index.current = i;
    return Math.min(index.current, Math.max(0, shown.length - 1));
  };
  const move = (to: number) => {
    const shown = shownOf();
    // An empty list (still loading, or filtered to nothing) keeps the item the cursor wants.
    if (shown.length > 0) {
      index.current = Math.max(0, Math.min(shown.length - 1, to));
      wanted.current = shown[index.current]!.key;
      memory.pick(wanted.current);
    }
    redraw((n) => n + 1);
  };
  useKeys(
    (input, key) => {
      const at = cursorIn(shownOf());
      if (typing.current && filter.current !== null) {
        if (key.return || key.escape) {
          filter.current = key.escape ? null : filter.current || null;
          typing.current = false;
          setCapture(false);
          move(key.escape ? 0 : at);
        } else if (key.backspace || key.delete) {
          filter.current = filter.current.slice(0, -1);
          move(0);
        } else if (key.upArrow) move(at - 1);
        else if (key.downArrow) move(at + 1);
        else if (input && !key.ctrl && !key.meta) {
          filter.current += input;
          move(0);
        }
        return;
      }
      if (key.upArrow || input === 'k') move(at - 1);
      else if (key.downArrow || input === 'j') move(at + 1);
      else if (key.pageUp) move(at - height);
      else if (key.pageDown) move(at + height);
      else if (key.return) {
        const it = shownOf()[at];
        if (it && !it.disabled) onSelect(it);
      } else if (input === '/') {
        filter.current = filter.current ?? '';
        typing.current = true;
        setCapture(true);
        redraw((n) => n + 1);
      }
    },
    { isActive },
  );
  const shown = shownOf();
  const at = cursorIn(shown);
  const start = Math.max(0, Math.min(at - Math.floor(height / 2), shown.length - height));
  const visible = shown.slice(start, start + height);
  const labelWidth = Math.min(30, Math.max(0, ...visible.map((i) => (i.note ? i.label.length : 0))));
  return (
    <Box flexDirection="column">
      {filter.current !== null ? (
        <Text color={c('cyan')}>
          filter: {filter.current}
          {typing.current ? '_ (Enter keeps it, Esc clears it)' : ' (/ changes it)'}
        </Text>
      ) : null}
      {shown.length === 0 ? <Text dimColor>(nothing{filter.current ? ' matches the filter' : ''})</Text> : null}
      {start > 0 ? <Text dimColor> ↑ {start} more</Text> : null}
      {visible.map((it, i) => {
        const sel = start + i === at;
        return (
          <Text
            key={it.key}
            wrap="truncate-end"
            inverse={sel && isActive}
            dimColor={it.disabled}
            color={it.colour ? c(it.colour) : undefined}
          >
            {sel ? '›' : ' '} {it.note ? it.label.padEnd(labelWidth) : it.label}
            {it.note ? <Text dimColor> {it.note}</Text> : null}
          </Text>
        );
      })}
      {start + height < shown.length ? <Text dimColor> ↓ {shown.length - start - height} more</Text> : null}
    </Box>
  );
}

/**
 * One line of text typed by the operator. The value lives in a ref, not in state, so Enter right after the last
 * key (a fast typist, a paste, a slow link that delivers both at once) submits everything typed.
 */
export function LineInput({ defaultValue = '', onSubmit }: { defaultValue?: string; onSubmit: (v: string) => void }) {
  const value = useRef(defaultValue);
  const [, redraw] = useState(0);
  useKeys((input, key) => {
    if (key.return) onSubmit(value.current);
    else if (key.backspace || key.delete) value.current = value.current.slice(0, -1);
    else if (key.ctrl && input === 'u') value.current = '';
    else if (input && !key.ctrl && !key.meta && !key.escape && !key.upArrow && !key.downArrow && !key.tab)
      value.current += input;
    else return;
    redraw((n) => n + 1);
  });
  return (
    <Text>
      {value.current}
      <Text inverse> </Text>
    </Text>
  );
}

/** Key: value lines, keys aligned. */
export function Fields({ rows }: { rows: [string, ReactNode][] }) {
  const w = Math.max(...rows.map(([k]) => k.length));
  return (
    <Box flexDirection="column">
      {rows.map(([k, v]) => (
        <Box key={k}>
          <Text dimColor>{k.padEnd(w)} </Text>
          {typeof v === 'string' || typeof v === 'number' ? <Text>{v}</Text> : v}
        </Box>
      ))}
    </Box>
  );
}

/** Seconds since mount, ticking every 100 ms while `running`. */
export function useTimer(running: boolean): number {
  const [t0] = useState(() => performance.now());
  const [now, setNow] = useState(t0);
  useEffect(() => {
    if (!running) return;
    const h = setInterval(() => setNow(performance.now()), 100);
    return () => clearInterval(h);
  }, [running]);
  return (now - t0) / 1000;
}

/** Run `run` when Esc is pressed (screens that capture the keyboard for a text field). */
export function OnEscape({ run }: { run: () => void }) {
  useKeys((_i, key) => {
    if (key.escape) run();
  });
  return null;
}
