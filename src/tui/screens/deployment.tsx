import { Box, Text } from 'ink';
import { formatInterval } from '../../util/config.ts';
import { ago } from '../../util/when.ts';
import type { ScreenProps } from '../screen.ts';
import { ActionLines, Fields, List, type ListItem, Pending, useAction, useColour, useLoad, useMenu } from '../ui.tsx';

export function DeploymentScreen({ backend, go, client, rows }: ScreenProps & { client: string }) {
  const c = useColour();
  const { flash } = useMenu();
  const d = useLoad(() => backend.deployments().then((all) => all.find((r) => r.client === client)), [client]);
  const action = useAction();
  const r = d.data;
  const act = (what: string, p: () => Promise<unknown>, done: string) =>
    action.run(what, p, () => {
      flash(done);
      d.reload();
    });
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
    else if (i.key === 'pause') act('pausing', () => backend.pause(client), `${client}: paused`);
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
      ) : (
        <Pending state={d} />
      )}
      <Box marginTop={1}>
        <List items={items} onSelect={onSelect} height={Math.max(3, rows - 6)} />
      </Box>
      <ActionLines action={action} />
    </Box>
  );
}
