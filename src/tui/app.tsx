import { Box, Text, useApp, useStdout } from 'ink';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { ClusterStatus } from '../ops/cluster.ts';
import { ago, duration } from '../util/when.ts';
import type { MenuBackend } from './backend.ts';
import type { Screen, ScreenProps } from './screen.ts';
import { describeScreen, drawScreen } from './screens/index.tsx';
import { describeError, ListMemoryContext, MenuContext, useColour, useKeys, useLoad } from './ui.tsx';

/** How often the header and the open screen read again. */
export const REFRESH_MS = 3000;

function NodeLine({ n }: { n: ClusterStatus['nodes'][number] }) {
  const c = useColour();
  if (!n.answer.up)
    return (
      <Text wrap="truncate-end">
        <Text color={c('red')} bold>
          {n.role.padEnd(9)} DOWN
        </Text>
        <Text dimColor>
          {' '}
          {n.node_id} · {n.answer.error} · last seen {ago(n.last_seen)}
        </Text>
      </Text>
    );
  const h = n.answer.health;
  return (
    <Text wrap="truncate-end">
      <Text color={h.status === 'ok' ? c('green') : c('yellow')} bold>
        {n.role.padEnd(9)} {h.status === 'ok' ? 'UP' : h.status.toUpperCase()}
      </Text>{' '}
      {h.is_leader ? <Text bold>LEADER</Text> : 'follower'} · term {h.term ?? '-'} · up {duration(h.uptime_seconds)} ·
      db {h.database.reachable ? 'ok' : <Text color={c('red')}>UNREACHABLE</Text>} · heartbeat {ago(h.last_heartbeat)}
      <Text dimColor> {n.node_id}</Text>
    </Text>
  );
}

export function Header({ backend }: { backend: MenuBackend }) {
  const c = useColour();
  const s = useLoad(() => backend.cluster(), []);
  // PostgreSQL unreachable: the nodes were asked anyway (askNodesAgain); the lease is unknown.
  const dbError = s.data?.database_error;
  const e = s.error ? describeError(s.error) : dbError ? describeError(dbError) : null;
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1} borderColor={c('gray')}>
      <Text bold wrap="truncate-end">
        owui-sync
        {s.data ? ` · host ${s.data.host}${s.data.cluster !== s.data.host ? ` (cluster ${s.data.cluster})` : ''}` : ''}
        {s.data?.lease?.live ? ` · leader ${s.data.lease.leader_id}, term ${s.data.lease.term}` : ''}
        {s.data && !dbError && !s.data.lease?.live ? <Text color={c('red')}> · NO LEADER</Text> : null}
        {dbError ? <Text color={c('red')}> · lease unknown</Text> : null}
      </Text>
      {e ? (
        <Text color={c('red')} wrap="truncate-end">
          {e.message}
          {e.hint ? ` (${e.hint})` : ''}
        </Text>
      ) : null}
      {s.data?.nodes.map((n) => (
        <NodeLine key={n.node_id} n={n} />
      ))}
      {s.data?.hint ? (
        <Text color={c('yellow')} wrap="truncate-end">
          {s.data.hint}
        </Text>
      ) : null}
      {!s.data && !e ? <Text dimColor>reading the agents…</Text> : null}
    </Box>
  );
}

const HELP = [
  ['↑ ↓  j k', 'move in a list (PgUp / PgDn jump)'],
  ['Enter', 'choose'],
  ['Esc  Backspace', 'back'],
  ['/', 'filter the list (type; Enter keeps it, Esc clears it)'],
  ['r', 'refresh now (screens refresh every 3 s anyway)'],
  ['?', 'this help'],
  ['q  Ctrl-C', 'quit'],
];

function HelpOverlay({ keys }: { keys: string }) {
  return (
    <Box flexDirection="column" borderStyle="double" paddingX={1}>
      <Text bold>Keys</Text>
      {HELP.map(([k, what]) => (
        <Text key={k}>
          {k!.padEnd(16)} {what}
        </Text>
      ))}
      <Text> </Text>
      <Text>This screen: {keys}</Text>
      <Text dimColor>Every action has a scripted twin (owui-sync --help): docs/menu.md.</Text>
      <Text dimColor>? or Esc closes this help.</Text>
    </Box>
  );
}

export function App({
  backend,
  colour,
  initial = [{ id: 'home' }],
  refreshMs = REFRESH_MS,
}: {
  backend: MenuBackend;
  colour: boolean;
  initial?: Screen[];
  refreshMs?: number;
}) {
  const { exit } = useApp();
  const { stdout } = useStdout();
  const [stack, setStack] = useState<Screen[]>(initial);
  const [help, setHelp] = useState(false);
  const [tick, setTick] = useState(0);
  const [flashText, setFlash] = useState<string | null>(null);
  const capture = useRef(false);
  const [size, setSize] = useState({ rows: stdout.rows || 24, cols: stdout.columns || 80 });
  useEffect(() => {
    const onResize = () => setSize({ rows: stdout.rows || 24, cols: stdout.columns || 80 });
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);
  useEffect(() => {
    const h = setInterval(() => setTick((t) => t + 1), refreshMs);
    return () => clearInterval(h);
  }, [refreshMs]);
  useEffect(() => {
    if (!flashText) return;
    const h = setTimeout(() => setFlash(null), 6000);
    return () => clearTimeout(h);
  }, [flashText]);
  /** Per screen of the stack (by depth): the key of the list item its cursor was last on. */
  const picked = useRef<string[]>([]);
  const back = useCallback(() => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)), []);
  const go = useCallback((s: Screen) => setStack((st) => [...st, s]), []);
  const screen = stack[stack.length - 1]!;
  // A screen left by Esc is forgotten: opened again, its list starts at the top (or at its current value).
  picked.current.length = Math.min(picked.current.length, stack.length);
  const depth = stack.length - 1;
  const memory = useMemo(
    () => ({
      get picked() {
        return picked.current[depth];
      },
      pick: (key: string) => {
        picked.current[depth] = key;
      },
    }),
    [depth],
  );
  const ctx = useMemo(
    () => ({
      colour,
      tick,
      back,
      flash: setFlash,
      // Taking the keys is immediate; giving them back waits until every handler has seen the current key, so
      // the Esc that ends a filter or a text field does not also go back a screen.
      setCapture: (on: boolean) => {
        if (on) capture.current = true;
        else
          setTimeout(() => {
            capture.current = false;
          }, 0);
      },
    }),
    [colour, tick, back],
  );
  useKeys((input, key) => {
    if (help) {
      if (input === '?' || key.escape || input === 'q') setHelp(false);
      return;
    }
    if (capture.current) return;
    if (input === 'q') exit();
    else if (input === '?') setHelp(true);
    else if (input === 'r') setTick((t) => t + 1);
    else if (key.escape || key.backspace || key.delete) back();
  });
  const { title, keys } = describeScreen(screen);
  // Header (a border, a title, two nodes: 5 rows) and the status lines (2) leave the rest to the screen.
  const bodyRows = Math.max(6, size.rows - 9);
  const props: ScreenProps = { backend, go, rows: bodyRows };
  const key = `${stack.length}:${JSON.stringify(screen)}`;
  return (
    <MenuContext.Provider value={ctx}>
      <Box flexDirection="column" width={Math.min(size.cols, 160)}>
        <Header backend={backend} />
        <Text bold wrap="truncate-start">
          {stack
            .slice(1)
            .map((x) => describeScreen(x).title)
            .slice(-3)
            .join(' › ') || title}
        </Text>
        <Box flexDirection="column" height={bodyRows} overflow="hidden">
          {help ? (
            <HelpOverlay keys={keys} />
          ) : (
            <ListMemoryContext.Provider value={memory}>
              <Body key={key} screen={screen} props={props} />
            </ListMemoryContext.Provider>
          )}
        </Box>
        {flashText ? <Text color={colour ? 'green' : undefined}>{flashText}</Text> : null}
        <Text dimColor wrap="truncate-end">
          {keys} · Esc back · ? help · q quit
        </Text>
      </Box>
    </MenuContext.Provider>
  );
}

function Body({ screen: s, props }: { screen: Screen; props: ScreenProps }) {
  return <>{drawScreen(s, props)}</>;
}
