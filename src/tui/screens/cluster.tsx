import { Box, Text } from 'ink';
import type { StopMode } from '../../ops/nodes.ts';
import { ago } from '../../util/when.ts';
import type { ScreenProps } from '../screen.ts';
import { ErrorLine, Fields, List, type ListItem, Pending, useColour, useLoad } from '../ui.tsx';

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
      ) : (
        <Pending state={s} />
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
