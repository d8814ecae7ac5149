import { Box, Text } from 'ink';
import { useEffect, useRef, useState } from 'react';
import type { FailoverResult, FailoverStep } from '../../ops/failover.ts';
import type { StopMode } from '../../ops/nodes.ts';
import { duration } from '../../util/when.ts';
import type { ScreenProps } from '../screen.ts';
import { ErrorLine, useColour, useMenu, useTimer } from '../ui.tsx';

export function FailoverScreen({ backend, mode }: ScreenProps & { mode: StopMode }) {
  const c = useColour();
  const [steps, setSteps] = useState<FailoverStep[]>([]);
  const [res, setRes] = useState<FailoverResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const elapsed = useTimer(!res && !error);
  const started = useRef(false);
  const { setCapture } = useMenu();
  useEffect(() => {
    // A node is stopped while the test runs: q and Esc wait for its end, so the node is always started again.
    setCapture(!res && !error);
    return () => setCapture(false);
  }, [res, error]);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    backend.failover(mode, (s) => setSteps((x) => [...x, s])).then(setRes, setError);
  }, []);
  return (
    <Box flexDirection="column">
      {steps.map((s) => (
        <Text key={s.at_ms + s.step}>
          {(s.at_ms / 1000).toFixed(1).padStart(6)} s {s.step}
        </Text>
      ))}
      {!res && !error ? (
        <Text color={c('cyan')}>running… {elapsed.toFixed(1)} s (q and Esc wait until the node runs again)</Text>
      ) : null}
      {res ? (
        <Box flexDirection="column" marginTop={1}>
          <Text bold color={res.ok ? c('green') : c('red')}>
            {res.ok ? 'PASSED' : 'FAILED'}: {res.new_leader ?? 'nobody'} took over from {res.stopped} in{' '}
            {res.takeover_ms === null ? '-' : `${(res.takeover_ms / 1000).toFixed(1)} s`} (term {res.term_before ?? '-'}{' '}
            → {res.term_after ?? '-'})
          </Text>
          <Text>
            {res.stopped} rejoined as {res.rejoined_as ?? '-'}
            {res.rejoin_ms === null ? '' : ` after ${duration(res.rejoin_ms / 1000)}`}
            {res.error ? `: ${res.error}` : ''}
          </Text>
        </Box>
      ) : null}
      {error ? <ErrorLine error={error} /> : null}
    </Box>
  );
}
