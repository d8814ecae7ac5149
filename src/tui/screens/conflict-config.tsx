import { Box, Text } from 'ink';
import type { Strategy } from '../../conflicts/strategies.ts';
import type { ScreenProps } from '../screen.ts';
import { List, type ListItem, Pending, useLoad } from '../ui.tsx';

export const STRATEGY_TEXT: Record<Strategy, string> = {
  newest_wins: 'use the most recent updated_at',
  source_wins: 'always the SQLite version',
  target_wins: 'always the PostgreSQL version',
  merge: 'merge changes (configurable)',
  manual: 'flag for manual review',
};

export function ConflictConfigScreen({ backend, go, client, rows }: ScreenProps & { client: string }) {
  const d = useLoad(() => backend.conflictConfig(client), [client]);
  if (!d.data) return <Pending state={d} />;
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
