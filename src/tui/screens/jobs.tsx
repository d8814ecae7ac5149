import { Box, Text } from 'ink';
import { ago } from '../../util/when.ts';
import type { ScreenProps } from '../screen.ts';
import { ErrorLine, List, type ListItem, Pending, useColour, useLoad } from '../ui.tsx';

export function JobsScreen({ backend, client, rows }: ScreenProps & { client: string }) {
  const c = useColour();
  const d = useLoad(() => backend.jobs(client), [client]);
  if (!d.data) return <Pending state={d} />;
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
