import { Box, Text } from 'ink';
import { useEffect, useState } from 'react';
import { formatInterval, parseInterval } from '../../util/config.ts';
import { INTERVALS, type ScreenProps } from '../screen.ts';
import { ActionLines, LineInput, List, OnEscape, useAction, useColour, useMenu } from '../ui.tsx';

export function RegisterScreen({ backend, go }: ScreenProps) {
  const c = useColour();
  const { setCapture, back } = useMenu();
  const [step, setStep] = useState<0 | 1 | 2>(0);
  const [name, setName] = useState('');
  const [file, setFile] = useState('');
  const action = useAction();
  useEffect(() => {
    setCapture(true);
    return () => setCapture(false);
  }, []);
  const prompts = [
    'Client name (the schema, e.g. chat-example-com)',
    "SQLite path (the tenant's webui.db)",
    'Interval',
  ];
  return (
    <Box flexDirection="column">
      {name ? <Text dimColor>name: {name}</Text> : null}
      {file ? <Text dimColor>path: {file}</Text> : null}
      {step < 2 ? (
        <Box>
          <Text>{prompts[step]}: </Text>
          <LineInput
            key={step}
            defaultValue={step === 1 && name ? `/opt/openwebui/${name}/data/webui.db` : ''}
            onSubmit={(v) => {
              if (!v.trim()) return;
              if (step === 0) {
                setName(v.trim());
                setStep(1);
              } else {
                setFile(v.trim());
                setStep(2);
                setCapture(false);
              }
            }}
          />
        </Box>
      ) : (
        <Box flexDirection="column">
          <Text>{prompts[2]}:</Text>
          <List
            items={INTERVALS.map((s) => ({
              key: String(s),
              label: formatInterval(s),
              note: s === 300 ? 'default' : undefined,
            }))}
            initial="300"
            onSelect={(i) => {
              action.run(
                'registering',
                () => backend.register(name, file, parseInterval(i.key)),
                (r) => go({ id: 'deployment', client: r.client }),
              );
            }}
          />
        </Box>
      )}
      <ActionLines action={action} />
      {step < 2 ? <OnEscape run={back} /> : null}
      <Text color={c('gray')} dimColor>
        The scripted twin: owui-sync client add NAME --sqlite PATH --interval 5m
      </Text>
    </Box>
  );
}
