import { Box, Text } from 'ink';
import { useState } from 'react';
import type { ScreenProps } from '../screen.ts';
import { ActionLines, List, useAction, useColour, useMenu } from '../ui.tsx';
import { TypedConfirm } from './typed-confirm.tsx';

export function DeregisterScreen({ backend, client }: ScreenProps & { client: string }) {
  const c = useColour();
  const { flash } = useMenu();
  const [mode, setMode] = useState<'choose' | 'drop' | 'done'>('choose');
  const action = useAction();
  const run = (drop: boolean) => {
    // Back to the choice while it runs: an error is shown under it.
    setMode('choose');
    action.run(
      'working',
      () => backend.deregister(client, drop),
      () => {
        setMode('done');
        flash(`${client}: deregistered${drop ? ', schema dropped' : ', data kept'}`);
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
      <ActionLines action={action} />
    </Box>
  );
}
