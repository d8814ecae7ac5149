import type { Instance } from 'ink';
import type { NodeController } from '../ops/nodes.ts';
import type { SyncSettings } from '../util/settings.ts';
import type { Screen } from './screen.ts';

/**
 * Open the menu on this terminal and resolve when the operator quits (q, Ctrl-C) or the session ends (SIGTERM,
 * SIGHUP). Ink restores the cursor and the terminal's mode on the way out. The connection is lazy: a database
 * that cannot be reached is a message in the header, and the menu retries at every refresh.
 */
export async function runMenu(o: {
  databaseUrl: string;
  adminUrl: string | null;
  host?: string;
  nodes: NodeController | null;
  colour: boolean;
  initial?: Screen[];
  secretFiles?: { passwordFile: string | null; jwtFile: string | null };
  settings?: SyncSettings;
}): Promise<void> {
  // Ink draws only the final frame when it thinks it runs in CI; on a terminal an operator needs every frame.
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
  // Ink's colour library reads FORCE_COLOR when it loads, never NO_COLOR.
  if (!o.colour) process.env.FORCE_COLOR = '0';
  const [{ render }, { App }, { PgMenuBackend }, { connect }, { closeNodeHealth }] = await Promise.all([
    import('ink'),
    import('./app.tsx'),
    import('./backend.ts'),
    import('../pg/connect.ts'),
    import('../ops/node-health.ts'),
  ]);
  const sql = connect(o.databaseUrl, { what: 'the database connection', max: 1, applicationName: 'owui-sync menu' });
  const backend = new PgMenuBackend(sql, {
    adminUrl: o.adminUrl,
    host: o.host,
    nodes: o.nodes,
    url: o.databaseUrl,
    secretFiles: o.secretFiles,
    settings: o.settings,
  });
  let app: Instance | undefined;
  const leave = () => app?.unmount();
  process.on('SIGTERM', leave);
  process.on('SIGHUP', leave);
  // A screen of its own: start from a clear terminal, drawn from the top.
  process.stdout.write('\u001B[2J\u001B[H');
  try {
    app = render(<App backend={backend} colour={o.colour} initial={o.initial} />, { exitOnCtrlC: true });
    await app.waitUntilExit();
  } finally {
    process.off('SIGTERM', leave);
    process.off('SIGHUP', leave);
    await Promise.all([sql.end({ timeout: 2 }).catch(() => {}), closeNodeHealth()]);
  }
}
