import { ProgressBar } from '@inkjs/ui';
import { Box, Text } from 'ink';
import { useEffect, useState } from 'react';
import type { RestoreProgress, RestoreResult } from '../../ops/restore.ts';
import type { VerifyResult } from '../../sync/verify.ts';
import type { ScreenProps } from '../screen.ts';
import { ErrorLine, LineInput, OnEscape, useColour, useMenu, useTimer } from '../ui.tsx';

/**
 * Restore a deployment's mirror into a new webui.db (docs/restore.md): asks for the path, shows the restore's
 * progress, then verifies the file against the mirror. The scripted twin: owui-sync restore / verify --against.
 */
export function RestoreScreen({ backend, client }: ScreenProps & { client: string }) {
  const c = useColour();
  const { setCapture, back } = useMenu();
  const [to, setTo] = useState('');
  const [p, setP] = useState<RestoreProgress | null>(null);
  const [res, setRes] = useState<RestoreResult | null>(null);
  const [ver, setVer] = useState<VerifyResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const running = !!to && !error && !ver;
  const elapsed = useTimer(running);
  useEffect(() => {
    setCapture(true);
    return () => setCapture(false);
  }, []);
  const start = (path: string) => {
    setTo(path);
    setError(null);
    setCapture(false);
    backend.restore(client, path, setP).then(
      (r) => {
        setRes(r);
        backend.verifyAgainst(client, r.path).then(setVer, setError);
      },
      (e) => {
        // Nothing was written: the path can be typed again, with the error shown under it.
        setError(e);
        setP(null);
        setTo('');
        setCapture(true);
      },
    );
  };
  const frac = p?.rowsEstimate ? Math.min(1, p.rowsDone / p.rowsEstimate) : 0;
  return (
    <Box flexDirection="column">
      {!to ? (
        <Box flexDirection="column">
          <Text>Stop the tenant's container first. Restore {client} to a new file:</Text>
          <Box>
            <LineInput
              defaultValue={`/opt/openwebui/${client}/data/webui.restored.db`}
              onSubmit={(v) => {
                if (v.trim()) start(v.trim());
              }}
            />
          </Box>
          <OnEscape run={back} />
        </Box>
      ) : (
        <Text>
          Restoring {client} to {to}
        </Text>
      )}
      {to && !res && !error ? (
        <Box flexDirection="column">
          <Box width={60}>
            <ProgressBar value={Math.round(frac * 100)} />
          </Box>
          <Text>
            {p ? `table ${p.index + 1}/${p.count} ${p.table} · ${p.rowsDone} rows · ` : 'starting · '}
            {elapsed.toFixed(1)} s
          </Text>
        </Box>
      ) : null}
      {res ? (
        <Text color={c('green')}>
          Restored {res.rows} rows in {res.tables.length} tables ({(res.duration_ms / 1000).toFixed(1)} s), Open WebUI
          revision {res.alembic_version ?? '(none)'}, integrity {res.integrity}
        </Text>
      ) : null}
      {res && !ver && !error ? <Text>verifying the file against the mirror…</Text> : null}
      {ver ? (
        <Text color={ver.identical ? c('green') : c('red')} bold>
          {ver.identical
            ? `Verified: identical to the mirror (${ver.rows_checked} rows)`
            : `${ver.differences_total} differences from the mirror: restore again`}
        </Text>
      ) : null}
      {error ? <ErrorLine error={error} /> : null}
      <Text color={c('gray')} dimColor>
        Then: put the file in place as webui.db and start the container. The scripted twin: owui-sync restore {client}{' '}
        --to PATH, then owui-sync verify {client} --against PATH
      </Text>
    </Box>
  );
}
