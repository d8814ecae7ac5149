import { Box, Text } from 'ink';
import { useState } from 'react';
import { ago } from '../../util/when.ts';
import type { ScreenProps } from '../screen.ts';
import { ErrorLine, List, type ListItem, Pending, useKeys, useLoad } from '../ui.tsx';

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
  if (!d.data) return <Pending state={d} />;
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
