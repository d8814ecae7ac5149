import { Box, Text } from 'ink';
import { useState } from 'react';
import { ago } from '../../util/when.ts';
import type { ScreenProps } from '../screen.ts';
import { ActionLines, Fields, Pending, useAction, useColour, useKeys, useLoad, useMenu } from '../ui.tsx';

const pretty = (v: unknown) => (v === null || v === undefined ? ['(none)'] : JSON.stringify(v, null, 2).split('\n'));

export function ConflictScreen({ backend, logId, rows }: ScreenProps & { logId: string }) {
  const c = useColour();
  const { flash } = useMenu();
  const d = useLoad(() => backend.conflict(logId), [logId], { live: false });
  const [scroll, setScroll] = useState(0);
  const [asking, setAsking] = useState<'source' | 'target' | 'merged' | null>(null);
  const action = useAction();
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
        const choice = asking;
        setAsking(null);
        action.run(
          'resolving',
          () => backend.resolve(logId, choice),
          () => {
            flash(`conflict resolved with the ${choice} version`);
            d.reload();
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
  if (!r) return <Pending state={d} />;
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
      <ActionLines action={action} />
    </Box>
  );
}
