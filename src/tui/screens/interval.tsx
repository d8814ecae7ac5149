import { Box, Text } from 'ink';
import { formatInterval } from '../../util/config.ts';
import { INTERVALS, type ScreenProps } from '../screen.ts';
import { ActionLines, List, Pending, useAction, useLoad, useMenu } from '../ui.tsx';

export function IntervalScreen({ backend, client, resume }: ScreenProps & { client: string; resume: boolean }) {
  const { flash, back } = useMenu();
  const d = useLoad(() => backend.deployments().then((all) => all.find((r) => r.client === client)), [client], {
    live: false,
  });
  const action = useAction();
  const current = d.data?.sync_interval;
  const items = INTERVALS.map((s) => ({
    key: String(s),
    label: `${formatInterval(s).padEnd(4)} (${s} s)`,
    note: s === current ? '[current]' : undefined,
  }));
  if (!d.data) return <Pending state={d} />;
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
          action.run(
            'storing',
            () => (resume ? backend.resume(client, s) : backend.setInterval(client, s)),
            (st) => {
              flash(
                `${client}: ${st.sync_enabled ? 'syncing' : 'paused'}, every ${formatInterval(st.sync_interval)} (stored)`,
              );
              back();
            },
          );
        }}
      />
      <ActionLines action={action} />
    </Box>
  );
}
