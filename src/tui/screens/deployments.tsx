import { Box, Text } from 'ink';
import { formatInterval } from '../../util/config.ts';
import { ago } from '../../util/when.ts';
import type { ScreenProps } from '../screen.ts';
import {
  ActionLines,
  ErrorLine,
  List,
  type ListItem,
  Pending,
  useAction,
  useColour,
  useLoad,
  useMenu,
} from '../ui.tsx';

export function Deployments({ backend, go, rows }: ScreenProps) {
  const c = useColour();
  const { flash } = useMenu();
  const d = useLoad(() => backend.deployments(), []);
  const found = useLoad(() => backend.discover(), [], { live: false });
  const action = useAction();
  if (!d.data) return <Pending state={d} />;
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
          action.run(
            'registering',
            () => backend.register(t.client, t.sqlite_path!, 300),
            (r) => {
              flash(`${r.client}: registered from ${t.container}, every 5m`);
              go({ id: 'deployment', client: r.client });
            },
          );
        }}
      />
      {d.error ? <ErrorLine error={d.error} /> : null}
      <ActionLines action={action} />
      {d.data.length === 0 ? <Text color={c('yellow')}>No client is registered yet: register one.</Text> : null}
    </Box>
  );
}
