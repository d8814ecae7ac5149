import { Box, Text } from 'ink';
import { useEffect, useState } from 'react';
import { LineInput, OnEscape, useColour, useMenu } from '../ui.tsx';

/** Type a word to confirm (DELETE, STOP), as the legacy menus ask; Esc cancels. */
export function TypedConfirm({
  word,
  question,
  onConfirm,
  onCancel,
}: {
  word: string;
  question: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const c = useColour();
  const { setCapture } = useMenu();
  const [wrong, setWrong] = useState(false);
  useEffect(() => {
    setCapture(true);
    return () => setCapture(false);
  }, []);
  return (
    <Box flexDirection="column">
      <Text color={c('yellow')}>
        {question} Type {word} and Enter to confirm; Esc cancels.
      </Text>
      <Box>
        <Text>&gt; </Text>
        <LineInput onSubmit={(v) => (v.trim() === word ? onConfirm() : setWrong(true))} />
      </Box>
      {wrong ? <Text color={c('red')}>That is not {word}: nothing changed. Type it exactly, or Esc.</Text> : null}
      <OnEscape run={onCancel} />
    </Box>
  );
}
