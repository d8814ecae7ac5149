import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runMain, setupTenant, type Tenant, tmpDir } from './helpers.ts';

describe('settings files (no variables to export at every login)', () => {
  let t: Tenant;
  let dir: string;
  const write = (name: string, content: unknown, mode = 0o600) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content));
    fs.chmodSync(f, mode);
    return f;
  };
  beforeAll(async () => {
    t = await setupTenant({ name: 'cfg' });
    dir = tmpDir();
  });

  it('gives the connection and the host, so a bare command works, and config show says where each came from', async () => {
    const file = write('config.json', {
      OWUI_SYNC_DATABASE_URL: t.hostEnv.OWUI_SYNC_DATABASE_URL,
      OWUI_SYNC_DATABASE_PASSWORD_FILE: t.hostEnv.OWUI_SYNC_DATABASE_PASSWORD_FILE,
      OWUI_SYNC_HOST: t.host,
      LEASE_DURATION: 30,
    });
    const st = await runMain(['status', '--json'], { OWUI_SYNC_CONFIG: file });
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout).map((r: { client: string }) => r.client)).toEqual(['cfg']);
    const show = await runMain(['config', 'show', '--json'], { OWUI_SYNC_CONFIG: file, LOG_LEVEL: 'debug' });
    expect(show.code, show.stderr).toBe(0);
    const rows = JSON.parse(show.stdout).settings as { name: string; value: string | null; source: string }[];
    const by = Object.fromEntries(rows.map((r) => [r.name, r]));
    expect(by.OWUI_SYNC_HOST).toEqual({ name: 'OWUI_SYNC_HOST', value: t.host, source: `file ${file}` });
    expect(by.LEASE_DURATION!.value).toBe('30');
    expect(by.LOG_LEVEL!.source).toBe('environment');
    expect(by.ROLE!.source).toBe('not set');
    expect(JSON.parse(show.stdout).files).toEqual([{ file, state: 'read (4 settings)' }]);
  });

  it('comes after the environment', async () => {
    const file = write('config.json', { OWUI_SYNC_DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/nothing' });
    const st = await runMain(['status', '--json'], { ...t.hostEnv, OWUI_SYNC_CONFIG: file });
    expect(st.code, st.stderr).toBe(0);
  });

  it('is refused when other users can write it, or when it holds a secret, with what to do', async () => {
    const open = write('open.json', { OWUI_SYNC_HOST: 'x' }, 0o666);
    const r = await runMain(['status'], { OWUI_SYNC_CONFIG: open });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`the settings file ${open} can be written by other users (mode 666`);
    expect(r.stderr).toContain(`chmod 644 ${open}`);
    const pw = write('pw.json', { OWUI_SYNC_DATABASE_URL: 'postgresql://u:hunter2hunter2@db.example.com/postgres' });
    const p = await runMain(['status'], { OWUI_SYNC_CONFIG: pw });
    expect(p.code).toBe(2);
    expect(p.stderr).toContain('holds a password');
    expect(p.stderr).not.toContain('hunter2');
    const secret = write('secret.json', { OWUI_SYNC_ADMIN_URL: 'postgresql://postgres@db/postgres' });
    const s = await runMain(['provision'], { OWUI_SYNC_CONFIG: secret });
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('secrets never go in it: name a file that holds it (OWUI_SYNC_ADMIN_URL_FILE)');
    // --help still works with a broken settings file: it is read only when a verb runs.
    expect((await runMain(['--help'], { OWUI_SYNC_CONFIG: open })).code).toBe(0);
    const show = await runMain(['config', 'show'], { OWUI_SYNC_CONFIG: open });
    expect(show.code).toBe(2);
  });
});

describe('sync and agent settings, parsed once where a command starts', () => {
  it('reads OWUI_SYNC_READ_STATEMENT_MS as a number of ms (0: no time bound) and refuses anything else, before connecting', async () => {
    const { syncSettings } = await import('../src/util/settings.ts');
    const { agentSettings } = await import('../src/cluster/settings.ts');
    expect(syncSettings({})).toEqual({});
    expect(syncSettings({ OWUI_SYNC_READ_STATEMENT_MS: '2' })).toEqual({ readStatementMs: 2 });
    expect(syncSettings({ OWUI_SYNC_READ_STATEMENT_MS: '0' })).toEqual({ readStatementMs: null });
    for (const bad of ['abc', '-1', '1001', 'Infinity', ' '])
      expect(() => syncSettings({ OWUI_SYNC_READ_STATEMENT_MS: bad }), bad).toThrow(/from 0 to 1000/);
    expect(agentSettings({ role: 'primary' }, { OWUI_SYNC_READ_STATEMENT_MS: '3' }).readStatementMs).toBe(3);
    expect(() => agentSettings({ role: 'primary' }, { OWUI_SYNC_CONCURRENCY: '1.5' })).toThrow(/a whole number from 1/);
    expect(() => agentSettings({}, { OWUI_SYNC_NOTIFY_URL: 'ftp://x' })).toThrow(/http\(s\) URL/);
    // The command says so and exits 2, with no database reached (the URL points nowhere).
    const r = await runMain(['sync', 'any'], {
      OWUI_SYNC_CONFIG: '',
      OWUI_SYNC_DATABASE_URL: 'postgres://u@127.0.0.1:1/db',
      OWUI_SYNC_READ_STATEMENT_MS: 'soon',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('OWUI_SYNC_READ_STATEMENT_MS is "soon"');
  });
});
