import { Box, Text } from 'ink';
import { useState } from 'react';
import type { ScreenProps } from '../screen.ts';
import { ActionLines, ErrorLine, List, useAction, useLoad, useMenu } from '../ui.tsx';
import { TypedConfirm } from './typed-confirm.tsx';

export function NodeScreen({ backend, nodeId, rows }: ScreenProps & { nodeId: string }) {
  const { flash } = useMenu();
  const [confirmStop, setConfirmStop] = useState(false);
  const action = useAction();
  const logHeight = Math.max(3, rows - 6);
  const logs = useLoad(() => backend.nodeLogs(nodeId, logHeight), [nodeId, action.busy]);
  const act = (what: string, p: () => Promise<void>) => action.run(what, p, () => flash(`${nodeId}: ${what} done`));
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
      <ActionLines action={action} />
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
