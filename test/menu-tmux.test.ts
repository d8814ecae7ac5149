import fs from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { createTenantDb, seedTenant } from '../src/sqlite/sample.ts';
import { BIN, onCleanup, setupTenant, tmpDir } from './helpers.ts';
import { HAVE_TMUX, NO_TMUX, Tmux } from './tmux.ts';

// The real binary in a real terminal (tmux): the demo's whole picture (embedded PostgreSQL, three tenants with
// live writers, two agent processes) driven through the menu as an operator would, over keys.

if (!HAVE_TMUX) console.warn(NO_TMUX);

/** Stop what a demo left running if the test failed before it quit (its agents and its PostgreSQL), by PID. */
function reapDemo(dir: string) {
  onCleanup(() => {
    try {
      const nodes = JSON.parse(fs.readFileSync(path.join(dir, 'nodes.json'), 'utf8')) as {
        nodes: { pid: number | null }[];
      };
      for (const n of nodes.nodes) if (n.pid) process.kill(n.pid, 'SIGKILL');
    } catch {
      /* none, or gone */
    }
    try {
      const pid = Number(fs.readFileSync(path.join(dir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (pid) process.kill(pid, 'SIGINT');
    } catch {
      /* stopped */
    }
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) [ZX]/s.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

describe.skipIf(!HAVE_TMUX)('the menu in a real terminal (tmux), on the demo', () => {
  it('navigates, changes an interval, syncs through the agents, resolves a conflict, runs the failover test, quits clean', async () => {
    const dir = path.join(tmpDir(), 'demo');
    reapDemo(dir);
    // CI=true stays in the environment: the menu must draw every frame on a terminal anyway.
    const term = Tmux.start(
      `cd ${JSON.stringify(path.dirname(BIN))}/.. && CI=true node ${BIN} demo --data-dir ${dir} --api-ports 0,0; echo "EXITED $?"; stty -a; sleep 3600`,
      { cols: 100, rows: 30 },
    );
    await term.waitFor('Main menu', 150_000);
    await term.waitFor(/primary\s+UP (LEADER|follower)/);
    const admin = postgres(fs.readFileSync(path.join(dir, 'admin-url'), 'utf8').trim(), { max: 1, onnotice: () => {} });
    onCleanup(() => admin.end({ timeout: 1 }));

    // Deployments: the three tenants; chat-acme-com has a conflict waiting.
    await term.keys('Enter');
    const list = await term.waitFor('demo-tenant');
    expect(list).toMatch(/chat-acme-com\s+enabled 1m .*1 conflict/);
    expect(list).toMatch(/chat-globex-com\s+enabled 1h/);

    // chat-globex-com: its interval from 1h to 5m, stored.
    await term.keys('j', 'Enter');
    await term.waitFor('Deployment chat-globex-com');
    await term.keys('j', 'j', 'Enter');
    await term.waitFor(/1h\s+\(3600 s\)\s+\[current\]/);
    await term.keys('k', 'Enter');
    await term.waitFor('chat-globex-com: syncing, every 5m (stored)');
    const [dep] =
      await admin`select sync_interval from sync_metadata.client_deployments where client_name = 'chat-globex-com'`;
    expect(dep!.sync_interval).toBe(300);

    // Sync now (the line under Change the interval, where the cursor came back): a leader is up, so the job is
    // queued for the agents and followed to its end.
    await term.waitFor(/› Change the interval/);
    await term.keys('j', 'Enter');
    await term.waitFor(/Queued for the agents \(job [0-9a-f-]+\)/);
    const done = await term.waitFor(/Done: \d+ rows synced.*\(by the agents, job/, 60_000);
    expect(done).not.toContain('FAILED');
    const [job] =
      await admin`select status, triggered_by from sync_metadata.sync_jobs where client_name = 'chat-globex-com' and triggered_by = 'manual-console'`;
    expect(job).toEqual({ status: 'success', triggered_by: 'manual-console' });

    // The conflict of chat-acme-com, resolved with the target version.
    await term.keys('Escape', 'Escape', 'k', 'Enter');
    await term.waitFor('Deployment chat-acme-com');
    await term.keys('j', 'j', 'j', 'j', 'j', 'j', 'Enter');
    await term.waitFor(/● .*chat .*update_conflict\s+pending \(manual\)/);
    await term.keys('Enter');
    await term.waitFor('PENDING: s keeps the source');
    await term.keys('t');
    await term.waitFor('Resolve with the target version? (y/n)');
    await term.keys('y');
    await term.waitFor(/resolved: target by menu:/);
    const [c] =
      await admin`select winner, resolved_at is not null as done from sync_metadata.conflict_log where client_name = 'chat-acme-com'`;
    expect(c).toEqual({ winner: 'target', done: true });

    // Cluster: the failover test, the crash kind (SIGKILL: the lease must expire).
    for (let i = 0; i < 4; i++) await term.keys('Escape');
    await term.waitFor('Main menu');
    await term.keys('j', 'Enter');
    await term.waitFor(/lease\s+leader demo-host-(primary|secondary), term \d+/);
    await term.keys('j', 'j', 'j', 'Enter');
    await term.waitFor('stopping the leader');
    const rep = await term.waitFor(
      /PASSED: demo-host-\w+ took over from demo-host-\w+ in [\d.]+ s \(term (\d+) → (\d+)\)/,
      90_000,
    );
    expect(rep).toMatch(/rejoined as follower/);
    const [, before, after] = /\(term (\d+) → (\d+)\)/.exec(rep)!;
    expect(Number(after)).toBeGreaterThan(Number(before));

    // Quit: the demo stops everything it started, and the terminal is left as it was.
    await term.keys('q');
    // stty prints after the exit code: wait for both (CI once read the screen between the two).
    const end = await term.waitFor(/EXITED \d+[\s\S]*[^-]icanon/, 60_000);
    expect(end).toContain('EXITED 0');
    expect(end).toMatch(/[^-]icanon/);
    expect(end).toMatch(/[^-]echo /);
    expect(term.tmux(['display-message', '-p', '#{cursor_flag}']).trim()).toBe('1');
    const nodes = JSON.parse(fs.readFileSync(path.join(dir, 'nodes.json'), 'utf8')) as { nodes: { pid: number }[] };
    for (const n of nodes.nodes) expect(alive(n.pid)).toBe(false);
  }, 400_000);
});

describe.skipIf(!HAVE_TMUX)('owui-sync with no arguments', () => {
  it('opens the menu on a terminal, 80x24, without colour under NO_COLOR and with colour otherwise', async () => {
    const t = await setupTenant({ name: 'tm_plain', seed: { users: 1, chatsPerUser: 2 } });
    await t.sync();
    const env = Object.entries({ ...t.hostEnv, OWUI_SYNC_CONFIG: '' })
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ');
    // An SGR sequence that sets a foreground colour (bold, dim and inverse are not colour).
    const colourCode = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*(3[0-7]|9[0-7]|38;[25])[;m]`);
    for (const noColor of [true, false]) {
      const term = Tmux.start(
        `env -u NO_COLOR -u FORCE_COLOR ${env} ${noColor ? 'NO_COLOR=1' : ''} node ${BIN}; echo "EXITED $?"; sleep 3600`,
      );
      await term.waitFor('Main menu', 30_000);
      await term.keys('Enter');
      const s = await term.waitFor(/tm_plain\s+enabled 5m/);
      const lines = s.split('\n');
      // The header on the first line, the key line on the last: nothing scrolled off an 80x24 terminal.
      expect(lines[0]).toMatch(/^╭─+╮$/);
      expect(lines.filter((l) => l.trim()).at(-1)).toContain('q quit');
      if (noColor) expect(term.screen(true)).not.toMatch(colourCode);
      else expect(term.screen(true)).toMatch(colourCode);
      await term.keys('C-c');
      await term.waitFor('EXITED 0', 15_000);
      term.kill();
    }
  }, 120_000);

  it('does not draw a menu for TERM=dumb: the usage, exit 2', async () => {
    const term = Tmux.start(`TERM=dumb node ${BIN}; echo "EXITED $?"; sleep 3600`, { cols: 120, rows: 100 });
    const s = await term.waitFor('EXITED', 15_000);
    expect(s).toContain('Usage: owui-sync');
    expect(s).toContain('EXITED 2');
  });
});

describe.skipIf(!HAVE_TMUX)('subcommands ask for what is missing on a terminal', () => {
  it('client add asks for the name and the SQLite path (its default offered, a wrong path refused)', async () => {
    const t = await setupTenant({ name: 'tm_ask', seed: { users: 1, chatsPerUser: 1 } });
    const file = path.join(tmpDir(), 'tenant.db');
    const db = createTenantDb(file);
    seedTenant(db, { users: 1, chatsPerUser: 1 });
    db.close();
    const adminFile = path.join(tmpDir(), 'admin-url');
    fs.writeFileSync(adminFile, t.url, { mode: 0o600 });
    const term = Tmux.start(
      `env OWUI_SYNC_CONFIG= OWUI_SYNC_ADMIN_URL_FILE=${adminFile} node ${BIN} client add; echo "EXITED $?"; sleep 3600`,
      { cols: 120, rows: 30 },
    );
    await term.waitFor('Client name (its PostgreSQL schema');
    await term.keys('tm_asked', 'Enter');
    await term.waitFor('SQLite database of tm_asked: (/opt/openwebui/tm_asked/data/webui.db)');
    await term.keys('/nonexistent/webui.db', 'Enter');
    await term.waitFor('no file at /nonexistent/webui.db');
    for (let i = 0; i < 25; i++) await term.keys('BSpace');
    await term.keys(file, 'Enter');
    const s = await term.waitFor('EXITED');
    expect(s).toContain('registered client tm_asked');
    expect(s).toContain('EXITED 0');
    const [row] =
      await t.check`select config->>'sqlite_path' as p from sync_metadata.client_deployments where client_name = 'tm_asked'`;
    expect(row!.p).toBe(file);
  });
});
