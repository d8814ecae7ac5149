import { ProgressBar } from '@inkjs/ui';
import { Box, Text } from 'ink';
import { useEffect, useRef, useState } from 'react';
import { STRATEGIES, type Strategy } from '../conflicts/strategies.ts';
import type { FailoverResult, FailoverStep } from '../ops/failover.ts';
import type { StopMode } from '../ops/nodes.ts';
import type { SyncNowProgress, SyncNowResult } from '../ops/overview.ts';
import { formatInterval, parseInterval } from '../util/config.ts';
import { ago, duration } from '../util/when.ts';
import type { MenuBackend } from './backend.ts';
import {
  ErrorLine,
  Fields,
  LineInput,
  List,
  type ListItem,
  OnEscape,
  useColour,
  useKeys,
  useLoad,
  useMenu,
  useTimer,
} from './ui.tsx';

export type Screen =
  | { id: 'home' }
  | { id: 'deployments' }
  | { id: 'deployment'; client: string }
  | { id: 'interval'; client: string; resume: boolean }
  | { id: 'sync'; client: string; full: boolean }
  | { id: 'jobs'; client: string }
  | { id: 'conflicts'; client: string; pending: boolean }
  | { id: 'conflict'; logId: string }
  | { id: 'conflict-config'; client: string }
  | { id: 'strategy'; client: string; table: string | null; current: string }
  | { id: 'deregister'; client: string }
  | { id: 'restore'; client: string }
  | { id: 'register' }
  | { id: 'cluster' }
  | { id: 'node'; nodeId: string }
  | { id: 'failover'; mode: StopMode };

export interface ScreenProps {
  backend: MenuBackend;
  go: (s: Screen) => void;
  /** Rows the body may use. */
  rows: number;
}

/** The legacy menus' intervals (legacy-toolkit 1.9). */
export const INTERVALS = [60, 300, 3600, 14400, 86400];

const LIST_KEYS = '↑↓/jk move · Enter select · / filter';

/** Each screen's title and the keys its status line shows. */
export function describeScreen(s: Screen): { title: string; keys: string } {
  switch (s.id) {
    case 'home':
      return { title: 'Main menu', keys: LIST_KEYS };
    case 'deployments':
      return { title: 'Deployments', keys: LIST_KEYS };
    case 'deployment':
      return { title: `Deployment ${s.client}`, keys: LIST_KEYS };
    case 'interval':
      return { title: `${s.resume ? 'Start / resume' : 'Interval of'} ${s.client}`, keys: '↑↓/jk move · Enter choose' };
    case 'sync':
      return {
        title: `Sync ${s.client} now (${s.full ? 'full' : 'incremental'})`,
        keys: 'Esc back (the sync goes on)',
      };
    case 'jobs':
      return { title: `Last jobs of ${s.client}`, keys: '↑↓/jk move' };
    case 'conflicts':
      return {
        title: `Conflicts of ${s.client} (${s.pending ? 'pending' : 'all'})`,
        keys: `${LIST_KEYS} · a all/pending`,
      };
    case 'conflict':
      return { title: 'Conflict', keys: '↑↓/jk scroll · s source · t target · m merged' };
    case 'conflict-config':
      return { title: `Conflict configuration of ${s.client}`, keys: LIST_KEYS };
    case 'strategy':
      return { title: `Strategy for ${s.table ?? 'every other table'}`, keys: '↑↓/jk move · Enter choose' };
    case 'deregister':
      return { title: `Deregister ${s.client}`, keys: '↑↓/jk move · Enter choose' };
    case 'register':
      return { title: 'Register a client', keys: 'type, Enter next · Esc back' };
    case 'restore':
      return { title: `Restore ${s.client}`, keys: 'type the path, Enter restore' };
    case 'cluster':
      return { title: 'Cluster', keys: LIST_KEYS };
    case 'node':
      return { title: `Node ${s.nodeId}`, keys: LIST_KEYS };
    case 'failover':
      return { title: `Failover test (${s.mode})`, keys: 'q and Esc wait while a node is stopped' };
  }
}

export function Home({ go }: ScreenProps) {
  const items: ListItem[] = [
    { key: 'deployments', label: 'Deployments', note: 'every client: schedule, sync, conflicts' },
    { key: 'cluster', label: 'Cluster', note: 'the lease, both nodes, logs, failover test' },
    { key: 'register', label: 'Register a client', note: 'a tenant not synced yet' },
  ];
  return <List items={items} onSelect={(i) => go({ id: i.key } as Screen)} />;
}

export function Deployments({ backend, go, rows }: ScreenProps) {
  const c = useColour();
  const { flash } = useMenu();
  const d = useLoad(() => backend.deployments(), []);
  const found = useLoad(() => backend.discover(), [], { live: false });
  const [error, setError] = useState<unknown>(null);
  if (d.error && !d.data) return <ErrorLine error={d.error} />;
  if (!d.data) return <Text dimColor>loading…</Text>;
  const items: ListItem[] = d.data.map((r) => {
    const state = !r.sync_enabled || r.status !== 'active' ? 'paused' : 'enabled';
    const result = r.last_job ? r.last_job.status : (r.last_sync_status ?? '-');
    const flags = [
      r.late ? 'LATE' : '',
      r.conflicts_pending ? `${r.conflicts_pending} conflict${r.conflicts_pending > 1 ? 's' : ''}` : '',
      r.rejected_pending ? `${r.rejected_pending} set aside` : '',
    ]
      .filter(Boolean)
      .join(', ');
    return {
      key: r.client,
      label: `${r.client.padEnd(22).slice(0, 22)} ${state.padEnd(7)} ${formatInterval(r.sync_interval).padEnd(4)} ${ago(r.last_sync_at).padEnd(13)} ${result.padEnd(8)}`,
      note: flags || undefined,
      colour: r.late || result === 'failed' ? 'red' : r.conflicts_pending || r.rejected_pending ? 'yellow' : undefined,
    };
  });
  for (const t of found.data ?? []) {
    if (t.registered) continue;
    items.push(
      t.on_postgres
        ? { key: `pg:${t.client}`, label: `${t.client.padEnd(22).slice(0, 22)} on PostgreSQL already`, disabled: true }
        : {
            key: `found:${t.client}`,
            label: `${t.client.padEnd(22).slice(0, 22)} not registered`,
            note: t.sqlite_path ? `Enter registers it (${t.container})` : 'no data mount',
            disabled: !t.sqlite_path,
            colour: 'cyan',
          },
    );
  }
  items.push({ key: '+register', label: '+ Register a client' });
  return (
    <Box flexDirection="column">
      <Text dimColor>
        {'  '}
        {'CLIENT'.padEnd(22)} {'SYNC'.padEnd(7)} {'EVERY'.padEnd(4)} {'LAST SYNC'.padEnd(13)} {'RESULT'.padEnd(8)}{' '}
        WAITING
      </Text>
      <List
        items={items}
        height={Math.max(3, rows - 3)}
        onSelect={(i) => {
          if (i.key === '+register') return go({ id: 'register' });
          const t = i.key.startsWith('found:') ? found.data?.find((x) => `found:${x.client}` === i.key) : undefined;
          if (!t) return go({ id: 'deployment', client: i.key });
          // A tenant found on the Docker engine: registered in one step, every 5 minutes.
          backend.register(t.client, t.sqlite_path!, 300).then((r) => {
            flash(`${r.client}: registered from ${t.container}, every 5m`);
            go({ id: 'deployment', client: r.client });
          }, setError);
        }}
      />
      {d.error ? <ErrorLine error={d.error} /> : null}
      {error ? <ErrorLine error={error} /> : null}
      {d.data.length === 0 ? <Text color={c('yellow')}>No client is registered yet: register one.</Text> : null}
    </Box>
  );
}

export function DeploymentScreen({ backend, go, client, rows }: ScreenProps & { client: string }) {
  const c = useColour();
  const { flash } = useMenu();
  const d = useLoad(() => backend.deployments().then((all) => all.find((r) => r.client === client)), [client]);
  const [error, setError] = useState<unknown>(null);
  const r = d.data;
  const act = (p: Promise<unknown>, done: string) =>
    p.then(
      () => {
        setError(null);
        flash(done);
        d.reload();
      },
      (e) => setError(e),
    );
  const items: ListItem[] = [
    { key: 'resume', label: 'Start / resume sync', note: 'choose the interval' },
    { key: 'pause', label: 'Pause sync', disabled: r ? !r.sync_enabled : false },
    { key: 'interval', label: 'Change the interval' },
    { key: 'sync', label: 'Sync now (incremental)' },
    { key: 'full', label: 'Sync now (full)' },
    { key: 'jobs', label: 'Status and last jobs' },
    {
      key: 'conflicts',
      label: 'Conflict log',
      note: r?.conflicts_pending ? `${r.conflicts_pending} pending` : undefined,
    },
    { key: 'config', label: 'Conflict configuration' },
    { key: 'restore', label: 'Restore to a new webui.db', note: 'then verify it' },
    { key: 'deregister', label: 'Deregister' },
  ];
  const onSelect = (i: ListItem) => {
    if (i.key === 'resume') go({ id: 'interval', client, resume: true });
    else if (i.key === 'pause') act(backend.pause(client), `${client}: paused`);
    else if (i.key === 'interval') go({ id: 'interval', client, resume: false });
    else if (i.key === 'sync' || i.key === 'full') go({ id: 'sync', client, full: i.key === 'full' });
    else if (i.key === 'jobs') go({ id: 'jobs', client });
    else if (i.key === 'conflicts') go({ id: 'conflicts', client, pending: true });
    else if (i.key === 'config') go({ id: 'conflict-config', client });
    else if (i.key === 'deregister') go({ id: 'deregister', client });
    else if (i.key === 'restore') go({ id: 'restore', client });
  };
  return (
    <Box flexDirection="column">
      {r ? (
        <Fields
          rows={[
            [
              'sync',
              r.sync_enabled && r.status === 'active' ? (
                <Text key="s" color={c('green')}>
                  enabled, every {formatInterval(r.sync_interval)}
                </Text>
              ) : (
                <Text key="s" color={c('yellow')}>
                  paused (interval {formatInterval(r.sync_interval)})
                </Text>
              ),
            ],
            [
              'last sync',
              <Text key="l" color={r.late ? c('red') : undefined}>
                {r.last_sync_at ? ago(r.last_sync_at) : 'never'}
                {r.last_job
                  ? `: ${r.last_job.status}, ${r.last_job.sync_type}, ${r.last_job.rows_synced} rows${r.last_job.duration_seconds !== null ? ` in ${r.last_job.duration_seconds} s` : ''}`
                  : ''}
                {r.late ? ` (LATE: more than twice the interval)` : ''}
              </Text>,
            ],
            [
              'waiting',
              `${r.conflicts_pending} conflict${r.conflicts_pending === 1 ? '' : 's'} for review, ${r.rejected_pending} row${r.rejected_pending === 1 ? '' : 's'} set aside`,
            ],
            ['database', r.sqlite_path],
          ]}
        />
      ) : d.error ? (
        <ErrorLine error={d.error} />
      ) : (
        <Text dimColor>loading…</Text>
      )}
      <Box marginTop={1}>
        <List items={items} onSelect={onSelect} height={Math.max(3, rows - 6)} />
      </Box>
      {error ? <ErrorLine error={error} /> : null}
    </Box>
  );
}

export function IntervalScreen({ backend, client, resume }: ScreenProps & { client: string; resume: boolean }) {
  const { flash, back } = useMenu();
  const d = useLoad(() => backend.deployments().then((all) => all.find((r) => r.client === client)), [client], {
    live: false,
  });
  const [error, setError] = useState<unknown>(null);
  const current = d.data?.sync_interval;
  const items = INTERVALS.map((s) => ({
    key: String(s),
    label: `${formatInterval(s).padEnd(4)} (${s} s)`,
    note: s === current ? '[current]' : undefined,
  }));
  if (!d.data) return d.error ? <ErrorLine error={d.error} /> : <Text dimColor>loading…</Text>;
  return (
    <Box flexDirection="column">
      <Text>
        {resume ? 'Start or resume the scheduled syncs of' : 'New interval for'} {client}, every:
      </Text>
      <List
        items={items}
        initial={String(current)}
        onSelect={(i) => {
          const s = Number(i.key);
          (resume ? backend.resume(client, s) : backend.setInterval(client, s)).then((st) => {
            flash(
              `${client}: ${st.sync_enabled ? 'syncing' : 'paused'}, every ${formatInterval(st.sync_interval)} (stored)`,
            );
            back();
          }, setError);
        }}
      />
      {error ? <ErrorLine error={error} /> : null}
    </Box>
  );
}

export function SyncScreen({ backend, client, full }: ScreenProps & { client: string; full: boolean }) {
  const c = useColour();
  const [p, setP] = useState<SyncNowProgress | null>(null);
  const [res, setRes] = useState<SyncNowResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const elapsed = useTimer(!res && !error);
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    const ac = new AbortController();
    backend.syncNow(client, full, setP, ac.signal).then(setRes, setError);
    return () => ac.abort();
  }, []);
  const frac = p?.tables_total ? Math.min(1, p.tables_done / p.tables_total) : 0;
  return (
    <Box flexDirection="column">
      <Text>
        {p?.via === 'agents'
          ? `Queued for the agents (job ${p.job_id}), following sync_progress.`
          : p?.via === 'here'
            ? 'No live leader: running here, in the menu.'
            : 'Starting…'}
      </Text>
      {!res && !error ? (
        <Box flexDirection="column">
          <Box width={60}>
            <ProgressBar value={Math.round(frac * 100)} />
          </Box>
          <Text>
            {p?.state ?? 'starting'} · {p?.table ? `table ${p.table} · ` : ''}
            {p?.tables_total ? `${p.tables_done}/${p.tables_total} tables · ` : ''}
            {p?.rows ?? 0} rows · {elapsed.toFixed(1)} s
          </Text>
        </Box>
      ) : null}
      {res ? (
        <Text color={res.status === 'success' ? c('green') : c('red')} bold>
          {res.status === 'success' ? 'Done' : res.status.toUpperCase()}: {res.rows_synced} rows synced
          {res.duration_seconds !== null ? ` in ${res.duration_seconds.toFixed(1)} s` : ''} (
          {res.via === 'agents' ? 'by the agents' : 'here'}
          {res.job_id ? `, job ${res.job_id}` : ''}){res.error ? `: ${res.error}` : ''}
        </Text>
      ) : null}
      {error ? <ErrorLine error={error} /> : null}
    </Box>
  );
}

export function JobsScreen({ backend, client, rows }: ScreenProps & { client: string }) {
  const c = useColour();
  const d = useLoad(() => backend.jobs(client), [client]);
  if (!d.data) return d.error ? <ErrorLine error={d.error} /> : <Text dimColor>loading…</Text>;
  const items: ListItem[] = d.data.map((j) => ({
    key: j.job_id,
    label: `${ago(j.started_at).padEnd(13)} ${j.kind.padEnd(11)} ${(j.duration_seconds === null ? '-' : `${j.duration_seconds} s`).padEnd(8)} ${String(j.rows_synced).padStart(7)} rows ${j.status.padEnd(8)}`,
    note: j.error_message ? j.error_message.slice(0, 60) : (j.triggered_by ?? undefined),
    colour: j.status === 'failed' ? 'red' : undefined,
  }));
  return (
    <Box flexDirection="column">
      <Text dimColor>
        {'  '}
        {'STARTED'.padEnd(13)} {'KIND'.padEnd(11)} {'TOOK'.padEnd(8)} {'ROWS'.padStart(12)} {'RESULT'.padEnd(8)} ERROR /
        BY
      </Text>
      <List items={items} onSelect={() => {}} height={Math.max(3, rows - 2)} />
      {d.error ? <ErrorLine error={d.error} /> : null}
      {d.data.length === 0 ? <Text color={c('yellow')}>No job yet.</Text> : null}
    </Box>
  );
}

export function ConflictsScreen({
  backend,
  go,
  client,
  pending,
  rows,
}: ScreenProps & { client: string; pending: boolean }) {
  const [all, setAll] = useState(!pending);
  const d = useLoad(() => backend.conflicts(client, !all), [client, all]);
  useKeys((input) => {
    if (input === 'a') setAll((x) => !x);
  });
  if (!d.data) return d.error ? <ErrorLine error={d.error} /> : <Text dimColor>loading…</Text>;
  const items: ListItem[] = d.data.map((r) => ({
    key: r.log_id,
    label: `${r.resolved_at ? ' ' : '●'} ${ago(r.detected_at).padEnd(12)} ${r.table_name.slice(0, 12).padEnd(12)} ${(r.record_id.length > 13 ? `${r.record_id.slice(0, 12)}…` : r.record_id).padEnd(13)} ${r.conflict_type.padEnd(15)}`,
    note: r.resolved_at
      ? `${r.winner ?? '-'} (${r.resolution_strategy ?? '-'})`
      : `pending (${r.resolution_strategy ?? '-'})`,
    colour: r.resolved_at ? undefined : 'yellow',
  }));
  return (
    <Box flexDirection="column">
      <Text dimColor>
        {all ? 'all conflicts' : 'pending conflicts (● waits for review)'}: {d.data.length} · a shows{' '}
        {all ? 'pending only' : 'all'}
      </Text>
      <List items={items} height={Math.max(3, rows - 2)} onSelect={(i) => go({ id: 'conflict', logId: i.key })} />
      {d.error ? <ErrorLine error={d.error} /> : null}
    </Box>
  );
}

const pretty = (v: unknown) => (v === null || v === undefined ? ['(none)'] : JSON.stringify(v, null, 2).split('\n'));

export function ConflictScreen({ backend, logId, rows }: ScreenProps & { logId: string }) {
  const c = useColour();
  const { flash } = useMenu();
  const d = useLoad(() => backend.conflict(logId), [logId], { live: false });
  const [scroll, setScroll] = useState(0);
  const [asking, setAsking] = useState<'source' | 'target' | 'merged' | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const r = d.data;
  const lines = r
    ? [
        ...['source (SQLite) at detection:', ...pretty(r.source_data)],
        '',
        ...['target (PostgreSQL) at detection:', ...pretty(r.target_data)],
        '',
        ...['resolved:', ...pretty(r.resolved_data)],
      ]
    : [];
  const height = Math.max(3, rows - 7);
  useKeys((input, key) => {
    if (asking) {
      if (input === 'y') {
        setBusy(true);
        const choice = asking;
        setAsking(null);
        backend.resolve(logId, choice).then(
          () => {
            setBusy(false);
            setError(null);
            flash(`conflict resolved with the ${choice} version`);
            d.reload();
          },
          (e) => {
            setBusy(false);
            setError(e);
          },
        );
      } else setAsking(null);
      return;
    }
    if (key.upArrow || input === 'k') setScroll((s) => Math.max(0, s - 1));
    else if (key.downArrow || input === 'j') setScroll((s) => Math.min(Math.max(0, lines.length - height), s + 1));
    else if (key.pageDown) setScroll((s) => Math.min(Math.max(0, lines.length - height), s + height));
    else if (key.pageUp) setScroll((s) => Math.max(0, s - height));
    else if (r && !r.resolved_at && (input === 's' || input === 't' || input === 'm'))
      setAsking(input === 's' ? 'source' : input === 't' ? 'target' : 'merged');
  });
  if (!r) return d.error ? <ErrorLine error={d.error} /> : <Text dimColor>loading…</Text>;
  return (
    <Box flexDirection="column">
      <Fields
        rows={[
          ['record', `${r.client_name} · ${r.table_name} · ${r.record_id}`],
          ['type', `${r.conflict_type} · strategy ${r.resolution_strategy ?? '-'} · detected ${ago(r.detected_at)}`],
          [
            'state',
            r.resolved_at ? (
              <Text key="s" color={c('green')}>
                resolved: {r.winner ?? '-'} by {r.resolved_by ?? '-'} {ago(r.resolved_at)}
              </Text>
            ) : (
              <Text key="s" color={c('yellow')}>
                PENDING: s keeps the source, t the target, m merges both
              </Text>
            ),
          ],
        ]}
      />
      <Box flexDirection="column" marginTop={1}>
        {lines.slice(scroll, scroll + height).map((l, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: lines of a text view
          <Text key={i} wrap="truncate-end">
            {l}
          </Text>
        ))}
        {lines.length > height ? (
          <Text dimColor>
            lines {scroll + 1}-{Math.min(lines.length, scroll + height)} of {lines.length}
          </Text>
        ) : null}
      </Box>
      {asking ? (
        <Text color={c('yellow')} bold>
          Resolve with the {asking} version? (y/n)
        </Text>
      ) : null}
      {busy ? <Text>resolving…</Text> : null}
      {error ? <ErrorLine error={error} /> : null}
    </Box>
  );
}

export const STRATEGY_TEXT: Record<Strategy, string> = {
  newest_wins: 'use the most recent updated_at',
  source_wins: 'always the SQLite version',
  target_wins: 'always the PostgreSQL version',
  merge: 'merge changes (configurable)',
  manual: 'flag for manual review',
};

export function ConflictConfigScreen({ backend, go, client, rows }: ScreenProps & { client: string }) {
  const d = useLoad(() => backend.conflictConfig(client), [client]);
  if (!d.data) return d.error ? <ErrorLine error={d.error} /> : <Text dimColor>loading…</Text>;
  const r = d.data.config.conflict_resolution;
  const items: ListItem[] = [
    { key: '', label: `default strategy: ${r.default_strategy}`, note: STRATEGY_TEXT[r.default_strategy] },
    ...Object.entries(r.table_strategies).map(([t, s]) => ({
      key: t,
      label: `${t.padEnd(16)} ${s.strategy}`,
      note:
        [s.compare_field ? `compare ${s.compare_field}` : '', s.notify ? 'notify' : ''].filter(Boolean).join(', ') ||
        undefined,
    })),
  ];
  return (
    <Box flexDirection="column">
      <Text dimColor>
        {d.data.source === 'stored' ? 'stored in sync_metadata' : 'the default (nothing stored yet)'} · Enter changes a
        strategy
      </Text>
      <List
        items={items}
        height={Math.max(3, rows - 2)}
        onSelect={(i) =>
          go({
            id: 'strategy',
            client,
            table: i.key || null,
            current: i.key ? r.table_strategies[i.key]!.strategy : r.default_strategy,
          })
        }
      />
    </Box>
  );
}

export function StrategyScreen({
  backend,
  client,
  table,
  current,
}: ScreenProps & { client: string; table: string | null; current: string }) {
  const { flash, back } = useMenu();
  const [error, setError] = useState<unknown>(null);
  const items = STRATEGIES.map((s, i) => ({
    key: s,
    label: `${i + 1}) ${s.padEnd(12)}`,
    note: `${STRATEGY_TEXT[s]}${s === current ? ' [current]' : ''}`,
  }));
  return (
    <Box flexDirection="column">
      <List
        items={items}
        initial={current}
        onSelect={(i) =>
          backend
            .changeConflictConfig(
              client,
              table ? { tables: { [table]: i.key as Strategy } } : { defaultStrategy: i.key as Strategy },
            )
            .then(() => {
              flash(`${client}: ${table ?? 'default'} strategy is ${i.key} (validated and stored)`);
              back();
            }, setError)
        }
      />
      {error ? <ErrorLine error={error} /> : null}
    </Box>
  );
}

/** Type a word to confirm (DELETE, STOP), as the legacy menus ask; Esc cancels. */
export function TypedConfirm({
  word,
  question,
  onConfirm,
  onCancel,
}: {
  word: string;
  question: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const c = useColour();
  const { setCapture } = useMenu();
  const [wrong, setWrong] = useState(false);
  useEffect(() => {
    setCapture(true);
    return () => setCapture(false);
  }, []);
  return (
    <Box flexDirection="column">
      <Text color={c('yellow')}>
        {question} Type {word} and Enter to confirm; Esc cancels.
      </Text>
      <Box>
        <Text>&gt; </Text>
        <LineInput onSubmit={(v) => (v.trim() === word ? onConfirm() : setWrong(true))} />
      </Box>
      {wrong ? <Text color={c('red')}>That is not {word}: nothing changed. Type it exactly, or Esc.</Text> : null}
      <OnEscape run={onCancel} />
    </Box>
  );
}

/** Esc runs `run` even while a text field has the keys. */
export function DeregisterScreen({ backend, client }: ScreenProps & { client: string }) {
  const c = useColour();
  const { flash } = useMenu();
  const [mode, setMode] = useState<'choose' | 'drop' | 'done'>('choose');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = (drop: boolean) => {
    setBusy(true);
    backend.deregister(client, drop).then(
      () => {
        setBusy(false);
        setMode('done');
        flash(`${client}: deregistered${drop ? ', schema dropped' : ', data kept'}`);
      },
      (e) => {
        setBusy(false);
        setError(e);
        setMode('choose');
      },
    );
  };
  if (mode === 'done') return <Text color={c('green')}>{client} is deregistered. Esc goes back.</Text>;
  if (mode === 'drop')
    return (
      <TypedConfirm
        word="DELETE"
        question={`This drops schema "${client}" and every row mirrored in it.`}
        onConfirm={() => run(true)}
        onCancel={() => setMode('choose')}
      />
    );
  return (
    <Box flexDirection="column">
      <List
        items={[
          { key: 'keep', label: 'Deregister, keep the data', note: `schema "${client}" stays in PostgreSQL` },
          { key: 'drop', label: 'Deregister and drop the schema', note: 'asks you to type DELETE' },
        ]}
        onSelect={(i) => (i.key === 'keep' ? run(false) : setMode('drop'))}
      />
      {busy ? <Text>working…</Text> : null}
      {error ? <ErrorLine error={error} /> : null}
    </Box>
  );
}

export function RegisterScreen({ backend, go }: ScreenProps) {
  const c = useColour();
  const { setCapture, back } = useMenu();
  const [step, setStep] = useState<0 | 1 | 2>(0);
  const [name, setName] = useState('');
  const [file, setFile] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setCapture(true);
    return () => setCapture(false);
  }, []);
  const prompts = [
    'Client name (the schema, e.g. chat-example-com)',
    "SQLite path (the tenant's webui.db)",
    'Interval',
  ];
  return (
    <Box flexDirection="column">
      {name ? <Text dimColor>name: {name}</Text> : null}
      {file ? <Text dimColor>path: {file}</Text> : null}
      {step < 2 ? (
        <Box>
          <Text>{prompts[step]}: </Text>
          <LineInput
            key={step}
            defaultValue={step === 1 && name ? `/opt/openwebui/${name}/data/webui.db` : ''}
            onSubmit={(v) => {
              if (!v.trim()) return;
              if (step === 0) {
                setName(v.trim());
                setStep(1);
              } else {
                setFile(v.trim());
                setStep(2);
                setCapture(false);
              }
            }}
          />
        </Box>
      ) : (
        <Box flexDirection="column">
          <Text>{prompts[2]}:</Text>
          <List
            items={INTERVALS.map((s) => ({
              key: String(s),
              label: formatInterval(s),
              note: s === 300 ? 'default' : undefined,
            }))}
            initial="300"
            onSelect={(i) => {
              setBusy(true);
              backend.register(name, file, parseInterval(i.key)).then(
                (r) => {
                  setBusy(false);
                  go({ id: 'deployment', client: r.client });
                },
                (e) => {
                  setBusy(false);
                  setError(e);
                },
              );
            }}
          />
        </Box>
      )}
      {busy ? <Text>registering…</Text> : null}
      {error ? <ErrorLine error={error} /> : null}
      {step < 2 ? <OnEscape run={back} /> : null}
      <Text color={c('gray')} dimColor>
        The scripted twin: owui-sync client add NAME --sqlite PATH --interval 5m
      </Text>
    </Box>
  );
}

export function ClusterScreen({ backend, go, rows }: ScreenProps) {
  const c = useColour();
  const s = useLoad(() => backend.cluster(), []);
  const n = useLoad(() => backend.listNodes(), []);
  const items: ListItem[] = [
    ...(n.data ?? []).map((x) => ({
      key: `node:${x.node_id}`,
      label: `${x.node_id.slice(0, 24).padEnd(24)} ${x.role.padEnd(9)} ${x.running ? 'running' : 'stopped'}`,
      note: `${x.handle} · logs, restart, stop`,
      colour: x.running ? undefined : ('yellow' as const),
    })),
    { key: 'failover:graceful', label: 'Failover test: stop the leader', note: 'SIGTERM (docker stop): hands over' },
    {
      key: 'failover:crash',
      label: 'Failover test: crash the leader',
      note: 'SIGKILL (docker kill): the lease expires',
    },
  ];
  const lease = s.data?.lease;
  return (
    <Box flexDirection="column">
      {s.data ? (
        <Fields
          rows={[
            [
              'lease',
              s.data.database_error ? (
                <Text key="l" color={c('red')}>
                  unknown: PostgreSQL cannot be read
                </Text>
              ) : lease?.live ? (
                <Text key="l" color={c('green')}>
                  leader {lease.leader_id}, term {lease.term}, renews within{' '}
                  {Math.max(0, Math.round(lease.expires_in_seconds))} s
                </Text>
              ) : (
                <Text key="l" color={c('red')}>
                  NO LEADER{lease ? ` (last: ${lease.leader_id}, term ${lease.term})` : ''}
                </Text>
              ),
            ],
            ['since', lease?.acquired_at ? ago(new Date(lease.acquired_at).toISOString()) : '-'],
          ]}
        />
      ) : s.error ? (
        <ErrorLine error={s.error} />
      ) : (
        <Text dimColor>loading…</Text>
      )}
      {!backend.nodes ? (
        <Text color={c('yellow')}>
          No node control here: deploy the pair (owui-sync deploy), or set OWUI_SYNC_NODES_FILE (the demo writes one),
          to see logs, stop, restart and test failover.
        </Text>
      ) : null}
      <Box marginTop={1}>
        <List
          items={backend.nodes ? items : []}
          height={Math.max(3, rows - 5)}
          onSelect={(i) => {
            const [kind, arg] = i.key.split(':') as [string, string];
            if (kind === 'node') go({ id: 'node', nodeId: arg });
            else go({ id: 'failover', mode: arg as StopMode });
          }}
        />
      </Box>
      {n.error ? <ErrorLine error={n.error} /> : null}
    </Box>
  );
}

export function NodeScreen({ backend, nodeId, rows }: ScreenProps & { nodeId: string }) {
  const { flash } = useMenu();
  const [confirmStop, setConfirmStop] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const logHeight = Math.max(3, rows - 6);
  const logs = useLoad(() => backend.nodeLogs(nodeId, logHeight), [nodeId, busy]);
  const act = (what: string, p: () => Promise<void>) => {
    setBusy(what);
    p().then(
      () => {
        setBusy(null);
        setError(null);
        flash(`${nodeId}: ${what} done`);
      },
      (e) => {
        setBusy(null);
        setError(e);
      },
    );
  };
  if (confirmStop)
    return (
      <TypedConfirm
        word="STOP"
        question={`This stops ${nodeId}; if it leads, the other node takes over.`}
        onConfirm={() => {
          setConfirmStop(false);
          act('stop', () => backend.stopNode(nodeId));
        }}
        onCancel={() => setConfirmStop(false)}
      />
    );
  return (
    <Box flexDirection="column">
      <List
        items={[
          { key: 'restart', label: 'Restart' },
          { key: 'stop', label: 'Stop', note: 'type STOP' },
          { key: 'start', label: 'Start' },
        ]}
        onSelect={(i) => {
          if (i.key === 'stop') setConfirmStop(true);
          else if (i.key === 'restart') act('restart', () => backend.restartNode(nodeId));
          else act('start', () => backend.startNode(nodeId));
        }}
      />
      {busy ? <Text>{busy}…</Text> : null}
      {error ? <ErrorLine error={error} /> : null}
      <Text bold>last log lines</Text>
      {(logs.data ?? []).slice(-logHeight).map((l, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: log lines
        <Text key={i} wrap="truncate-end" dimColor>
          {l}
        </Text>
      ))}
      {logs.error ? <ErrorLine error={logs.error} /> : null}
    </Box>
  );
}

export function FailoverScreen({ backend, mode }: ScreenProps & { mode: StopMode }) {
  const c = useColour();
  const [steps, setSteps] = useState<FailoverStep[]>([]);
  const [res, setRes] = useState<FailoverResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const elapsed = useTimer(!res && !error);
  const started = useRef(false);
  const { setCapture } = useMenu();
  useEffect(() => {
    // A node is stopped while the test runs: q and Esc wait for its end, so the node is always started again.
    setCapture(!res && !error);
    return () => setCapture(false);
  }, [res, error]);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    backend.failover(mode, (s) => setSteps((x) => [...x, s])).then(setRes, setError);
  }, []);
  return (
    <Box flexDirection="column">
      {steps.map((s) => (
        <Text key={s.at_ms + s.step}>
          {(s.at_ms / 1000).toFixed(1).padStart(6)} s {s.step}
        </Text>
      ))}
      {!res && !error ? (
        <Text color={c('cyan')}>running… {elapsed.toFixed(1)} s (q and Esc wait until the node runs again)</Text>
      ) : null}
      {res ? (
        <Box flexDirection="column" marginTop={1}>
          <Text bold color={res.ok ? c('green') : c('red')}>
            {res.ok ? 'PASSED' : 'FAILED'}: {res.new_leader ?? 'nobody'} took over from {res.stopped} in{' '}
            {res.takeover_ms === null ? '-' : `${(res.takeover_ms / 1000).toFixed(1)} s`} (term {res.term_before ?? '-'}{' '}
            → {res.term_after ?? '-'})
          </Text>
          <Text>
            {res.stopped} rejoined as {res.rejoined_as ?? '-'}
            {res.rejoin_ms === null ? '' : ` after ${duration(res.rejoin_ms / 1000)}`}
            {res.error ? `: ${res.error}` : ''}
          </Text>
        </Box>
      ) : null}
      {error ? <ErrorLine error={error} /> : null}
    </Box>
  );
}
