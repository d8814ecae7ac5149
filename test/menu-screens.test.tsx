import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { changeConflictConfig } from '../src/ops/conflicts.ts';
import type { DeployPlan } from '../src/ops/deploy.ts';
import type { LocalNodes } from '../src/ops/nodes.ts';
import { connect } from '../src/pg/connect.ts';
import { App } from '../src/tui/app.tsx';
import { type MenuBackend, PgMenuBackend } from '../src/tui/backend.ts';
import type { Screen } from '../src/tui/screen.ts';
import { freePort } from '../src/util/net.ts';
import { localPair } from './agents.ts';
import { onCleanup, pgProxy, setupTenant, type Tenant } from './helpers.ts';
import { FakeMenu } from './menu-fake.ts';

// Every screen of the menu, drawn by Ink into ink-testing-library's stdout (which renders every frame, also
// with CI=true) and driven by keys written to its stdin. Most draw from plain data (FakeMenu, the MenuBackend
// interface the screens use); one walk runs end to end on a real PostgreSQL and tenant, and the tests of failures
// (an unreachable database, PostgreSQL gone) and of the node control use the real backend and real agents.

const ESC = '\u001B';
const now = () => Math.floor(Date.now() / 1000);

type Inst = ReturnType<typeof render>;

async function frame(inst: Inst, pred: (f: string) => boolean, what: string, ms = 20_000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const f = inst.lastFrame() ?? '';
    if (pred(f)) return f;
    if (Date.now() - t0 > ms) {
      const trail = inst.frames.map((x) => x.split('\n').find((_l, i, all) => all[i - 1]?.startsWith('╰')) ?? '');
      const titles = trail.filter((l, i) => l !== trail[i - 1]).slice(-8);
      throw new Error(`no frame with ${what} within ${ms} ms; titles drawn: ${titles.join(' | ')}; last frame:\n${f}`);
    }
    await sleep(40);
  }
}
const see = (inst: Inst, text: string | RegExp, ms = 30_000) =>
  frame(inst, (f) => (typeof text === 'string' ? f.includes(text) : text.test(f)), String(text), ms);
/** Keys, one write each; first a moment for a screen just drawn to start listening (its effects run after paint). */
async function press(inst: Inst, ...keys: string[]) {
  await sleep(150);
  for (const k of keys) {
    inst.stdin.write(k);
    await sleep(k === ESC ? 120 : 40);
  }
}

function open(backend: MenuBackend, initial?: Screen[], rows = 24): Inst {
  const inst = render(<App backend={backend} colour={false} initial={initial} refreshMs={400} />);
  // ink-testing-library's stdout is 100 columns; the body height follows the rows it reports.
  (inst.stdout as unknown as { rows: number }).rows = rows;
  onCleanup(() => inst.unmount());
  return inst;
}

function backendFor(t: Tenant, nodes: LocalNodes | null = null): MenuBackend {
  return new PgMenuBackend(t.sql, { adminUrl: t.url, host: t.host, nodes });
}

describe('the menu, screen by screen (ink-testing-library)', () => {
  it('main menu, deployments, a deployment; the interval stored; help; every frame fits 80 columns', async () => {
    const b = await FakeMenu.create();
    b.add('m_dep');
    const inst = open(b);
    await see(inst, 'Main menu');
    // The header: no agent answers here, and it says so with the hint.
    await see(inst, 'NO LEADER');
    await see(inst, /primary\s+DOWN/);
    await press(inst, '\r');
    const list = await see(inst, /m_dep\s+enabled 5m\s+\d+ s ago\s+success/);
    expect(list).toContain('CLIENT');
    await press(inst, '\r');
    await see(inst, 'Deployment m_dep');
    await see(inst, 'enabled, every 5m');
    await see(inst, '0 conflicts for review, 0 rows set aside');
    // Change the interval: the current one is marked, the new one stored.
    await press(inst, 'j', 'j', '\r');
    const iv = await see(inst, '[current]');
    expect(iv).toMatch(/5m\s+\(300 s\)\s+\[current\]/);
    await press(inst, 'j', 'j', '\r'); // 5m -> 1h -> 4h
    await see(inst, 'm_dep: syncing, every 4h (stored)');
    expect(b.calls).toContainEqual(['setInterval', 'm_dep', 14400]);
    // Back on the deployment, the cursor where it was (Change the interval); Pause is the line above.
    await see(inst, '› Change the interval');
    await press(inst, 'k', '\r');
    await see(inst, 'm_dep: paused');
    await see(inst, 'paused (interval 4h)');
    expect(b.calls).toContainEqual(['pause', 'm_dep']);
    await press(inst, '?');
    await see(inst, 'Keys');
    await see(inst, 'filter the list');
    await press(inst, '?');
    await see(inst, 'Start / resume sync');
    for (const f of inst.frames) for (const line of f.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
  });

  it('start/resume with an interval, sync now (run here: no leader) with its result, then the last jobs', async () => {
    const b = await FakeMenu.create();
    b.add('m_sync', { sync_enabled: false, status: 'paused' });
    const inst = open(b, [{ id: 'deployment', client: 'm_sync' }]);
    await see(inst, 'paused (interval 5m)');
    await press(inst, '\r');
    await see(inst, 'Start or resume the scheduled syncs of m_sync');
    await press(inst, 'k', '\r'); // 5m -> 1m
    await see(inst, 'm_sync: syncing, every 1m (stored)');
    expect(b.calls).toContainEqual(['resume', 'm_sync', 60]);
    await press(inst, 'j', 'j', 'j', '\r');
    await see(inst, 'Sync m_sync now (incremental)');
    const done = await see(inst, /Done: 14 rows synced in 0\.3 s \(here, job job-\d+\)/);
    expect(done).toContain('No live leader: running here');
    expect(b.calls).toContainEqual(['syncNow', 'm_sync', false]);
    await press(inst, ESC);
    await see(inst, '› Sync now (incremental)');
    await press(inst, 'j', 'j', '\r');
    await see(inst, 'Last jobs of m_sync');
    await see(inst, /\d+ s ago\s+full\s+[\d.]+ s\s+14 rows success\s+manual-console/);
  });

  it('the conflict log: a pending conflict, its detail scrolled, resolved with the source version', async () => {
    const b = await FakeMenu.create();
    b.add('m_conf');
    const c = b.addConflict('m_conf', { record_id: 'chat-7' });
    const inst = open(b, [{ id: 'deployments' }]);
    await see(inst, '1 conflict');
    await press(inst, '\r');
    await see(inst, /Conflict log\s+1 pending/);
    await press(inst, 'j', 'j', 'j', 'j', 'j', 'j', '\r');
    await see(inst, 'pending conflicts (● waits for review): 1');
    await see(inst, /● \d+ s ago\s+chat\s+\S+\s+update_conflict\s+pending \(manual\)/);
    await press(inst, '\r');
    await see(inst, 'm_conf · chat · chat-7');
    await see(inst, 'PENDING: s keeps the source');
    await press(inst, 's');
    await see(inst, 'Resolve with the source version? (y/n)');
    await press(inst, 'y');
    await see(inst, 'conflict resolved with the source version');
    await see(inst, /resolved: source by menu:/);
    expect(b.calls).toEqual([['resolve', c.log_id, 'source']]);
    // The list again: nothing pending; `a` shows all, with the winner.
    await press(inst, ESC);
    await see(inst, 'pending conflicts (● waits for review): 0');
    await press(inst, 'a');
    await see(inst, /all conflicts: 1/);
    await see(inst, 'source (manual)');
  });

  it('the conflict configuration: the five strategies, the default and a table changed, validated and stored', async () => {
    const b = await FakeMenu.create();
    b.add('m_cfg');
    const inst = open(b, [{ id: 'conflict-config', client: 'm_cfg' }]);
    await see(inst, 'the default (nothing stored yet)');
    await see(inst, 'default strategy: newest_wins');
    await press(inst, '\r');
    const s = await see(inst, '5) manual');
    for (const n of ['1) newest_wins', '2) source_wins', '3) target_wins', '4) merge']) expect(s).toContain(n);
    expect(s).toMatch(/newest_wins\s+use the most recent updated_at \[current\]/);
    await press(inst, 'j', '\r');
    await see(inst, 'm_cfg: default strategy is source_wins (validated and stored)');
    await see(inst, 'stored in sync_metadata');
    // A table's strategy: filter the list to the chat row.
    await press(inst, '/', 'c', 'h', 'a', 't', '\r');
    await see(inst, 'filter: chat');
    await press(inst, '\r');
    await see(inst, 'Strategy for chat');
    await press(inst, 'j', 'j', 'j', 'j', '\r');
    await see(inst, 'm_cfg: chat strategy is manual (validated and stored)');
    expect(b.calls).toEqual([
      ['changeConflictConfig', 'm_cfg', { defaultStrategy: 'source_wins' }],
      ['changeConflictConfig', 'm_cfg', { tables: { chat: 'manual' } }],
    ]);
  });

  it('register a new client in three steps, then deregister it (keep the data; drop asks for DELETE)', async () => {
    const b = await FakeMenu.create();
    b.add('m_reg');
    const file = '/srv/tenants/m_new/webui.db';
    const inst = open(b, [{ id: 'register' }]);
    await see(inst, 'Client name');
    await press(inst, 'm_new', '\r');
    await see(inst, "SQLite path (the tenant's webui.db)");
    await see(inst, '/opt/openwebui/m_new/data/webui.db');
    // Clear the suggested path, type the real one.
    await press(inst, '\u007F'.repeat(40), file, '\r');
    await see(inst, 'Interval:');
    await press(inst, 'j', '\r'); // 5m default -> 1h
    await see(inst, 'Deployment m_new');
    await see(inst, 'enabled, every 1h');
    expect(b.calls).toEqual([['register', 'm_new', file, 3600]]);
    // Deregister: drop asks for DELETE; a wrong word changes nothing; then keep the data.
    await press(inst, 'j', 'j', 'j', 'j', 'j', 'j', 'j', 'j', 'j', '\r');
    await see(inst, 'Deregister, keep the data');
    await press(inst, 'j', '\r');
    await see(inst, 'Type DELETE and Enter to confirm');
    await press(inst, 'delete', '\r');
    await see(inst, 'That is not DELETE: nothing changed');
    expect(b.calls).toHaveLength(1);
    await press(inst, ESC);
    await see(inst, 'Deregister, keep the data');
    await press(inst, 'k', '\r');
    await see(inst, 'm_new is deregistered');
    expect(b.calls.at(-1)).toEqual(['deregister', 'm_new', false]);
  });

  it('restore a deployment to a new file from its screen, with progress, then the verification', async () => {
    const b = await FakeMenu.create();
    b.add('m_rest');
    const file = '/srv/restores/restored.db';
    const inst = open(b, [{ id: 'deployment', client: 'm_rest' }]);
    await see(inst, 'Restore to a new webui.db');
    await press(inst, 'j', 'j', 'j', 'j', 'j', 'j', 'j', 'j', '\r');
    await see(inst, 'Restore m_rest to a new file');
    await see(inst, '/opt/openwebui/m_rest/data/webui.restored.db');
    await press(inst, '\u007F'.repeat(50), file, '\r');
    await see(inst, 'Verified: identical to the mirror (10 rows)');
    expect(inst.frames.some((f) => f.includes('Restored 10 rows in 2 tables') && f.includes('integrity ok'))).toBe(
      true,
    );
    expect(b.calls).toEqual([['restore', 'm_rest', file]]);
    // Again to the same path: refused, the message says why and what to do.
    await press(inst, ESC);
    await see(inst, 'Restore to a new webui.db');
    await press(inst, '\r');
    await see(inst, 'Restore m_rest to a new file');
    await press(inst, '\u007F'.repeat(50), file, '\r');
    await see(inst, 'exists: restore never overwrites a file');
  });

  it('end to end on the real database: the interval and a pause stored, a sync run here, a conflict resolved', async () => {
    const t = await setupTenant({ name: 'm_e2e', seed: { users: 1, chatsPerUser: 3 } });
    await changeConflictConfig(t.sql, 'm_e2e', { tables: { chat: 'manual' } });
    await t.sync();
    const id = t.chatIds[0]!;
    t.db.prepare('UPDATE chat SET title = ?, updated_at = ? WHERE id = ?').run('Local', now() + 100, id);
    await t.check.unsafe(`UPDATE m_e2e.chat SET title = 'Remote' WHERE id = $1`, [id]);
    const inst = open(backendFor(t), [{ id: 'deployment', client: 'm_e2e' }]);
    await see(inst, 'enabled, every 5m');
    await press(inst, 'j', 'j', '\r');
    await see(inst, '[current]');
    await press(inst, 'j', 'j', '\r'); // 5m -> 1h -> 4h
    await see(inst, 'm_e2e: syncing, every 4h (stored)');
    await see(inst, '› Change the interval');
    await press(inst, 'k', '\r');
    await see(inst, 'm_e2e: paused');
    const [row] =
      await t.check`select sync_interval, sync_enabled from sync_metadata.client_deployments where client_name = 'm_e2e'`;
    expect(row).toEqual({ sync_interval: 14400, sync_enabled: false });
    // Sync now: no agent leads, so it runs here and detects the conflict.
    await press(inst, 'j', 'j', '\r');
    await see(inst, 'Sync m_e2e now (incremental)');
    await see(inst, /Done: \d+ rows synced in [\d.]+ s \(here, job /);
    const [job] =
      await t.check`select status, triggered_by from sync_metadata.sync_jobs where client_name = 'm_e2e' order by started_at desc limit 1`;
    expect(job).toEqual({ status: 'success', triggered_by: 'manual-console' });
    // Its conflict, from the conflict log, resolved with the source version: the mirror has it.
    await press(inst, ESC);
    await see(inst, '1 conflict for review');
    await see(inst, '› Sync now (incremental)');
    await press(inst, 'j', 'j', 'j', '\r'); // the conflict log, three below
    await see(inst, 'pending conflicts (● waits for review): 1');
    await press(inst, '\r');
    await see(inst, `m_e2e · chat · ${id}`);
    await press(inst, 's');
    await see(inst, 'Resolve with the source version? (y/n)');
    await press(inst, 'y');
    await see(inst, 'conflict resolved with the source version');
    const [c] = await t.check`select winner, resolved_by from sync_metadata.conflict_log`;
    expect(c!.winner).toBe('source');
    expect(c!.resolved_by).toMatch(/^menu:/);
    const [m] = await t.check.unsafe(`select title from m_e2e.chat where id = $1`, [id]);
    expect(m!.title).toBe('Local');
  });

  it('errors are messages: an unreachable database in the header and on the screen, never a crash', async () => {
    const t = await setupTenant({ name: 'm_err', seed: { users: 1, chatsPerUser: 1 } });
    const port = await freePort();
    const deadUrl = `postgres://nobody:secret-pw@127.0.0.1:${port}/none`;
    const dead = connect(deadUrl, { what: 'the database connection' });
    onCleanup(() => dead.end({ timeout: 1 }));
    const inst = open(new PgMenuBackend(dead, { adminUrl: null, nodes: null, url: deadUrl }), [
      { id: 'home' },
      { id: 'deployments' },
    ]);
    const f = await see(inst, /error: cannot reach PostgreSQL for the database connection at[\s\S]*connection refused/);
    expect(f).toContain('hint:');
    expect(f).not.toContain('secret-pw');
    expect(f).not.toMatch(/\n\s+at /); // no stack
    await press(inst, ESC);
    await see(inst, 'Main menu');
    await press(inst, '\r'); // Deployments again: still a message, the menu still runs
    await see(inst, /Deployments\nerror: cannot reach PostgreSQL/);
    // Registering without the admin connection: the message says what to set.
    const t2 = open(new PgMenuBackend(t.sql, { adminUrl: null, nodes: null }), [{ id: 'register' }]);
    await press(t2, 'x_new', '\r');
    await press(t2, '\r');
    await see(t2, 'Interval:');
    await press(t2, '\r');
    await see(t2, 'error: registering a client needs the admin connection');
    await see(t2, 'hint: set OWUI_SYNC_ADMIN_URL_FILE');
  });

  it('PostgreSQL gone while the menu runs: the nodes still asked, the lease unknown, the error shown', async () => {
    const t = await setupTenant({ name: 'm_gone', seed: { users: 1, chatsPerUser: 1 } });
    const { nodes } = await localPair(t, 'mg');
    // The menu reaches PostgreSQL through a proxy of the test's own, closed below; the agents do not.
    const proxy = await pgProxy(new URL(t.hostEnv.OWUI_SYNC_DATABASE_URL!));
    const via = proxy.url;
    via.password = encodeURIComponent(fs.readFileSync(t.hostEnv.OWUI_SYNC_DATABASE_PASSWORD_FILE!, 'utf8').trim());
    const sql = connect(via.toString(), { what: 'the database connection', max: 3 });
    onCleanup(() => sql.end({ timeout: 1 }));
    const inst = open(new PgMenuBackend(sql, { adminUrl: null, host: t.host, nodes, url: via.toString() }), [
      { id: 'cluster' },
    ]);
    await see(inst, /lease\s+leader mg-primary, term 1/);
    await see(inst, /secondary\s+UP follower/);
    await proxy.close();
    const f = await see(inst, /· lease unknown/);
    expect(f).toMatch(/cannot reach PostgreSQL for the database connection/);
    await see(inst, /lease\s+unknown: PostgreSQL cannot be read/);
    // The nodes are asked on their own: a node stopped now shows DOWN (the lines read before would say UP).
    await nodes.stop('mg-secondary', 'graceful');
    const g = await see(inst, /secondary\s+DOWN mg-secondary · connection refused/);
    expect(g).toMatch(/primary\s+UP LEADER/);
  });

  it('the cluster: both local agents, a node with its log lines, and the failover test with its report', async () => {
    const t = await setupTenant({ name: 'm_clu', seed: { users: 1, chatsPerUser: 1 } });
    const { nodes, dir } = await localPair(t, 'mc');
    const inst = open(backendFor(t, nodes), [{ id: 'cluster' }], 30);
    await see(inst, /lease\s+leader mc-primary, term 1/);
    await see(inst, /primary\s+UP LEADER · term 1/);
    await see(inst, /secondary\s+UP follower/);
    await see(inst, /mc-secondary\s+secondary running\s+pid \d+/);
    await press(inst, '\r');
    await see(inst, 'Node mc-primary');
    await see(inst, /info\s+API listening\s+address=127\.0\.0\.1:\d+/);
    await press(inst, ESC);
    // The nodes are read again when the screen opens: move once they are listed (the cursor stays on the item it
    // is on when they arrive).
    await see(inst, /› mc-primary\s+primary\s+running/);
    await see(inst, /mc-secondary\s+secondary running/);
    await press(inst, 'j', 'j', '\r'); // the graceful one
    await see(inst, 'stopping the leader mc-primary (gracefully');
    const rep = await see(inst, /PASSED: mc-secondary took over from mc-primary in [\d.]+ s \(term 1 → 2\)/, 40_000);
    expect(rep).toMatch(/mc-primary rejoined as follower/);
    await see(inst, /secondary\s+UP LEADER · term 2/);
    // Back on the Cluster screen the cursor is on the test just run (the list loads its nodes again, above it).
    await press(inst, ESC);
    await see(inst, '› Failover test: stop the leader');
    // Stop asks for STOP: once the nodes are listed again above the cursor (a key pressed before they arrive stays
    // on the test, and Enter ran it again once on CI).
    await see(inst, /mc-secondary\s+secondary running/);
    await press(inst, 'k', '\r');
    await see(inst, 'Node mc-secondary');
    await press(inst, 'j', '\r');
    await see(inst, 'Type STOP and Enter to confirm');
    await press(inst, 'STOP', '\r');
    await see(inst, 'mc-secondary: stop done');
    expect((await nodes.list()).find((n) => n.node_id === 'mc-secondary')!.running).toBe(false);
    // The log stays readable; the file the nodes are described in holds no secret.
    const text = fs.readFileSync(path.join(dir, 'nodes.json'), 'utf8');
    expect(text).not.toContain(fs.readFileSync(t.hostEnv.OWUI_SYNC_DATABASE_PASSWORD_FILE!, 'utf8').trim());
  }, 150_000);

  it('back, and the help closed, put the cursor where it was; a screen left by Esc starts at the top again', async () => {
    const b = await FakeMenu.create();
    b.add('m_cur');
    const inst = open(b);
    await see(inst, '› Deployments');
    await press(inst, 'j', '\r');
    await see(inst, 'No node control here');
    await press(inst, ESC);
    await see(inst, /› Cluster\s+the lease/);
    await press(inst, '?');
    await see(inst, 'closes this help');
    await press(inst, '?');
    await see(inst, /› Cluster\s+the lease/);
    // Two levels: the deployment's actions, back to the list, back to the main menu.
    await press(inst, 'k', '\r');
    await see(inst, /› m_cur\s+enabled/);
    await press(inst, '\r');
    await see(inst, 'Deployment m_cur');
    await see(inst, '› Start / resume sync');
    await press(inst, 'j', 'j');
    await see(inst, '› Change the interval');
    await press(inst, ESC);
    await see(inst, /› m_cur\s+enabled/);
    await press(inst, ESC);
    await see(inst, /› Deployments\s+every client/);
    // Opened again, the deployment's screen starts at its first action, not where it was left.
    await press(inst, '\r');
    await see(inst, /› m_cur\s+enabled/);
    await press(inst, '\r');
    await see(inst, 'Deployment m_cur');
    const again = await see(inst, '› Start / resume sync');
    expect(again).not.toContain('› Change the interval');
  });

  it('without node control the cluster screen says how to get it; q quits', async () => {
    const inst = open(await FakeMenu.create(), [{ id: 'cluster' }]);
    await see(inst, /No node control here: deploy the pair \(owui-sync deploy\), or set OWUI_SYNC_NODES_FILE/);
    await see(inst, 'NO LEADER');
    await press(inst, 'q');
    await sleep(200);
    const before = inst.frames.length;
    await press(inst, 'j');
    await sleep(500);
    expect(inst.frames.length).toBe(before); // unmounted: nothing draws any more
  });

  it('deploy / update on plain data: the plan, each container, the typed word, then the steps', async () => {
    // No database here: the screen is drawn from a MenuBackend of plain data (the interface the screens use).
    const plan = {
      settings: {
        image: 'owui-sync:test',
        host: 'h1',
        cluster: 'c1',
        network: 'host',
        publish: '127.0.0.1',
        ports: [9443, 9444],
        user: '1000:1000',
        tenantDirs: ['/a', '/b'],
      },
      mode: 'standalone',
      legacy: ['openwebui-sync-node-a'],
      changes: [
        { container: 'openwebui-sync-primary', action: 'replace' },
        { container: 'openwebui-sync-secondary', action: 'create' },
      ],
    } as unknown as DeployPlan;
    const applied: DeployPlan[] = [];
    const backend = {
      nodes: null,
      cluster: async () => ({ host: 'h1', cluster: 'c1', lease: null, nodes: [] }),
      deployPlan: async () => plan,
      deploy: async (p: DeployPlan, onStep: (s: { container: string; action: string }) => void) => {
        applied.push(p);
        onStep({ container: 'openwebui-sync-node-a', action: 'removed legacy' });
        onStep({ container: 'openwebui-sync-secondary', action: 'created' });
        return { mode: 'standalone', steps: [], image: 'owui-sync:test', user: '1000:1000' };
      },
    } as unknown as MenuBackend;
    const inst = open(backend, [{ id: 'deploy' }]);
    await see(inst, 'openwebui-sync-primary: differs: will be replaced');
    await see(inst, 'openwebui-sync-secondary: will be created');
    await see(inst, /openwebui-sync-node-a: replaced when you apply \(type UPDATE\)/);
    await press(inst, 'a');
    await see(inst, 'Type UPDATE and Enter to confirm');
    await press(inst, 'D', 'E', 'P', 'L', 'O', 'Y', '\r');
    await see(inst, 'That is not UPDATE: nothing changed');
    expect(applied).toHaveLength(0);
    await press(inst, '\u007F', '\u007F', '\u007F', '\u007F', '\u007F', '\u007F', 'U', 'P', 'D', 'A', 'T', 'E', '\r');
    await see(inst, 'openwebui-sync-secondary: created');
    await see(inst, 'the pair runs owui-sync:test (standalone)');
    expect(applied).toEqual([plan]);
  });
});
