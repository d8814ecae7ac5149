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
  // biome-ignore lint/correctness/useExhaustiveDependencies: reload on the caller's deps, the tick and reload()
  useEffect(() => {
    let current = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => current && alive.current && setState({ data, loading: false }),
      (error) => current && alive.current && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => {
      current = false;
    };
  }, [...deps, opts.live === false ? 0 : tick, nonce]);
  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

export interface ListItem {
  key: string;
  label: string;
  /** Shown after the label, dimmed. */
  note?: string;
  colour?: Colour;
  disabled?: boolean;
}

/**
 * A list: arrows or j/k move, Enter picks, / filters by typing (Enter or Esc ends the filter), PgUp/PgDn jump.
 * Shows at most `height` rows and scrolls.
 */
export function List({
  items,
  onSelect,
  height = 12,
  onHighlight,
  isActive = true,
  initial,
}: {
  items: ListItem[];
  onSelect: (item: ListItem) => void;
  height?: number;
  onHighlight?: (item: ListItem) => void;
  isActive?: boolean;
  initial?: string;
}) {
  const c = useColour();
  const { setCapture } = useMenu();
  const [filter, setFilter] = useState<string | null>(null);
  const [index, setIndex] = useState(() =>
    Math.max(
      0,
      items.findIndex((i) => i.key === initial),
    ),
  );
  const shown = filter ? items.filter((i) => i.label.toLowerCase().includes(filter.toLowerCase())) : items;
  const at = Math.min(index, Math.max(0, shown.length - 1));
  useEffect(() => {
    const it = shown[at];
    if (it) onHighlight?.(it);
  }, [at, shown[at]?.key]);
  useInput(
    (input, key) => {
      if (filter !== null) {
        if (key.return || key.escape) {
          setFilter(key.escape ? null : filter || null);
          setCapture(false);
        } else if (key.backspace || key.delete) setFilter(filter.slice(0, -1));
        else if (key.upArrow) setIndex(Math.max(0, at - 1));
        else if (key.downArrow) setIndex(Math.min(shown.length - 1, at + 1));
        else if (input && !key.ctrl && !key.meta) {
          setFilter(filter + input);
          setIndex(0);
        }
        return;
      }
      if (key.upArrow || input === 'k') setIndex(Math.max(0, at - 1));
      else if (key.downArrow || input === 'j') setIndex(Math.min(shown.length - 1, at + 1));
      else if (key.pageUp) setIndex(Math.max(0, at - height));
      else if (key.pageDown) setIndex(Math.min(shown.length - 1, at + height));
      else if (key.return) {
        const it = shown[at];
        if (it && !it.disabled) onSelect(it);
      } else if (input === '/') {
        setFilter('');
        setCapture(true);
      }
    },
    { isActive },
  );
  const start = Math.max(0, Math.min(at - Math.floor(height / 2), shown.length - height));
  const visible = shown.slice(start, start + height);
  return (
    <Box flexDirection="column">
      {filter !== null ? <Text color={c('cyan')}>filter: {filter}_</Text> : null}
      {shown.length === 0 ? <Text dimColor>(nothing{filter ? ' matches the filter' : ''})</Text> : null}
      {start > 0 ? <Text dimColor> ↑ {start} more</Text> : null}
      {visible.map((it, i) => {
        const sel = start + i === at;
        return (
          <Text
            key={it.key}
            inverse={sel && isActive}
            dimColor={it.disabled}
            color={it.colour ? c(it.colour) : undefined}
          >
            {sel ? '›' : ' '} {it.label}
            {it.note ? <Text dimColor> {it.note}</Text> : null}
          </Text>
        );
      })}
      {start + height < shown.length ? <Text dimColor> ↓ {shown.length - start - height} more</Text> : null}
    </Box>
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
