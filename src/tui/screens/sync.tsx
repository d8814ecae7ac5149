import { ProgressBar } from '@inkjs/ui';
import { Box, Text } from 'ink';
import { useEffect, useRef, useState } from 'react';
import type { SyncNowProgress, SyncNowResult } from '../../ops/overview.ts';
import type { ScreenProps } from '../screen.ts';
import { ErrorLine, useColour, useTimer } from '../ui.tsx';

export function SyncScreen({ backend, client, full }: ScreenProps & { client: string; full: boolean }) {
  const c = useColour();
  const [p, setP] = useState<SyncNowProgress | null>(null);
  const [res, setRes] = useState<SyncNowResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const elapsed = useTimer(!res && !error);
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    const ac = new AbortController();
    backend.syncNow(client, full, setP, ac.signal).then(setRes, setError);
    return () => ac.abort();
  }, []);
  const frac = p?.tables_total ? Math.min(1, p.tables_done / p.tables_total) : 0;
  return (
    <Box flexDirection="column">
      <Text>
        {p?.via === 'agents'
          ? `Queued for the agents (job ${p.job_id}), following sync_progress.`
          : p?.via === 'here'
            ? 'No live leader: running here, in the menu.'
            : 'Starting…'}
      </Text>
      {!res && !error ? (
        <Box flexDirection="column">
          <Box width={60}>
            <ProgressBar value={Math.round(frac * 100)} />
          </Box>
          <Text>
            {p?.state ?? 'starting'} · {p?.table ? `table ${p.table} · ` : ''}
            {p?.tables_total ? `${p.tables_done}/${p.tables_total} tables · ` : ''}
            {p?.rows ?? 0} rows · {elapsed.toFixed(1)} s
          </Text>
        </Box>
      ) : null}
      {res ? (
        <Text color={res.status === 'success' ? c('green') : c('red')} bold>
          {res.status === 'success' ? 'Done' : res.status.toUpperCase()}: {res.rows_synced} rows synced
          {res.duration_seconds !== null ? ` in ${res.duration_seconds.toFixed(1)} s` : ''} (
          {res.via === 'agents' ? 'by the agents' : 'here'}
          {res.job_id ? `, job ${res.job_id}` : ''}){res.error ? `: ${res.error}` : ''}
        </Text>
      ) : null}
      {error ? <ErrorLine error={error} /> : null}
    </Box>
  );
}
