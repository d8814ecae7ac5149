import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { connect } from '../src/pg/connect.ts';
import { spawnModule, waitForLine } from '../src/util/child.ts';
import { freshDatabase, onCleanup, ROOT, setupTenant, trackChild } from './helpers.ts';

const WRITER = new URL('../src/sqlite/writer-process.ts', import.meta.url);

describe.each(['wal', 'rollback'] as const)('syncing while Open WebUI writes, %s journal mode', (journal) => {
  it('never makes the writer fail, never changes the journal mode, and converges', async () => {
    const t = await setupTenant({
      name: `live_${journal}`,
      journal,
      seed: { users: 3, chatsPerUser: 60, bigChatBytes: 3_000_000 },
    });
    // A writer with a short lock wait (1 s, Open WebUI has 5 s): a sync that held a read
    // transaction across PostgreSQL round trips would make it fail with SQLITE_BUSY.
    // synchronous=OFF: the writer's latency is then lock waits, not the disk of a busy CI machine.
    const w = spawnModule(WRITER, [t.sqlitePath, '5', '0', '3', '', '1000', 'off']);
    trackChild(w.pid);
    await waitForLine(w, (l) => l === 'ready');
    const runs = [];
    for (let i = 0; i < 4; i++) runs.push(await t.sync({ full: i === 1, batchRows: 200 }));
    const report = waitForLine(w, (l) => l.startsWith('{'));
    w.kill('SIGTERM');
    const stats = JSON.parse(await report) as { writes: number; errors: number; max_ms: number; p99_ms: number };
    expect(runs.every((r) => r.status === 'success')).toBe(true);
    expect(stats.writes).toBeGreaterThan(10);
    expect(stats.errors).toBe(0);
    // Each write commits in about 10 ms here. A read transaction held for a whole run would hold
    // the rollback journal's lock for hundreds of milliseconds (measured: 537 ms), and the writer with it.
    expect(stats.max_ms).toBeLessThan(250);
    const final = await t.sync();
    expect(final.status).toBe('success');
    const v = await t.verify();
    expect(v.differences).toEqual([]);
    const db = new Database(t.sqlitePath, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe(journal === 'wal' ? 'wal' : 'delete');
    db.close();
  });
});

describe('a lost PostgreSQL connection in the middle of a run', () => {
  it('runs on the patched driver (scripts/patch-postgres.mjs, applied by npm install)', () => {
    const marks = (f: string) =>
      fs.readFileSync(path.join(ROOT, 'node_modules/postgres/src', f), 'utf8').split('owui-sync patch: connection loss')
        .length - 1;
    expect(marks('connection.js')).toBe(5);
    expect(marks('index.js')).toBe(3);
    // A COPY chunk goes out behind its own header, not copied into a new buffer with it.
    expect(fs.readFileSync(path.join(ROOT, 'node_modules/postgres/src/connection.js'), 'utf8')).not.toContain(
      'socket.write(b().d().raw(chunk).end(), callback)\n      },\n      destroy(error, callback) {\n        callback(error)\n        socket.write(b().f().str(error + b.N).end())\n        stream = null\n      },\n      final(callback) {\n        socket.write(b().c().end())\n        final = callback\n        stream = null\n      }\n    })\n    query.resolve(stream)\n  }\n\n  function CopyOutResponse',
    );
  });

  it("runs nothing more of a transaction whose connection was lost: not outside it, not inside the retry's", async () => {
    const { superUrl, sql: admin } = await freshDatabase();
    await admin`create table zombie_check (v text)`;
    // The sync's connection: one session (owui-sync's connect), as a run's batches have.
    const sql = connect(superUrl, { what: 'the test', max: 1 });
    onCleanup(() => sql.end({ timeout: 1 }));

    // A batch whose connection dies while it waits (for the next page, say). The driver rejects it at once, so the
    // caller retries; the batch's own code is still running, and goes on with its statements later.
    const lost = sql.begin(async (tx) => {
      const [{ pid }] = (await tx`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
      await admin`select pg_terminate_backend(${pid})`;
      await sleep(200);
      await tx`insert into zombie_check values ('the lost batch')`;
    });
    await expect(lost).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
    // The retry, on the same pool (the driver reconnects its session): it writes, waits, and rolls back.
    const retry = sql.begin(async (tx) => {
      await tx`insert into zombie_check values ('the retry, rolled back')`;
      await sleep(400);
      throw new Error('rolled back on purpose');
    });
    await expect(retry).rejects.toThrow('rolled back on purpose');
    await sleep(100);
    // Neither the lost batch's statement (nor its COMMIT, which would end the retry's transaction early) ran.
    expect(await admin`select v from zombie_check`).toEqual([]);
  });

  it('survives the backend being killed at random moments, run after run', async () => {
    const t = await setupTenant({ name: 'chaos', seed: { users: 2, chatsPerUser: 100 } });
    let retried = 0;
    for (let i = 0; i < 8; i++) {
      // As Open WebUI does: the new title and updated_at = now.
      if (i > 0)
        t.db.prepare('UPDATE chat SET title = ?, updated_at = ?').run(`round ${i}`, Math.floor(Date.now() / 1000) + i);
      const kill = setTimeout(
        () => {
          t.check`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'owui-sync' and datname = current_database()`.catch(
            () => {},
          );
        },
        20 + ((i * 37) % 200),
      );
      const res = await t.sync({ full: i % 2 === 0, batchRows: 50, hooks: { onRetry: () => retried++ } });
      clearTimeout(kill);
      expect(res.status, res.error).toBe('success');
    }
    expect(retried).toBeGreaterThan(0);
    expect((await t.verify()).differences).toEqual([]);
  });

  it('is retried with backoff, the run finishes, and nothing is lost or doubled', async () => {
    const t = await setupTenant({ name: 'flaky', seed: { users: 2, chatsPerUser: 150 } });
    let killed = 0;
    const retries: number[] = [];
    // The connection is killed inside a batch, right before its COMMIT (a connection killed while idle is simply
    // reopened by the driver, with nothing to retry): the batch fails and must be redone.
    const res = await t.sync({
      batchRows: 50,
      hooks: {
        onRetry: (_e, attempt) => retries.push(attempt),
        beforeCommit: async (tx) => {
          if (killed >= 2) return;
          killed++;
          const [{ pid }] = (await tx`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
          await t.check`select pg_terminate_backend(${pid})`;
        },
      },
    });
    expect(killed).toBe(2);
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(res.status).toBe('success');
    expect((await t.verify()).identical).toBe(true);
  });

  it('redoes a batch whose session the server ended for idling in its transaction (a paused process)', async () => {
    const t = await setupTenant({ name: 'idled', seed: { users: 2, chatsPerUser: 60 } });
    let idled = 0;
    const retried: string[] = [];
    // The agent's sessions end a transaction idle for longer than the renew interval, so that a paused node
    // cannot hold the lease row. When the node goes on, its batch is redone on a new connection (and its fence
    // decides), not the run failed.
    const res = await t.sync({
      batchRows: 50,
      hooks: {
        onRetry: (e) => retried.push((e as { code?: string }).code ?? String(e)),
        beforeCommit: async (tx) => {
          if (idled++ > 0) return;
          await tx`set local idle_in_transaction_session_timeout = 50`;
          await new Promise((r) => setTimeout(r, 400));
        },
      },
    });
    // The driver reports the server's 25P03 or the closed socket, whichever it reads first: both are retried.
    expect(retried).toHaveLength(1);
    expect(['25P03', 'CONNECTION_CLOSED']).toContain(retried[0]);
    expect(res.status, res.error).toBe('success');
    expect((await t.verify()).identical).toBe(true);
  });
});

describe('Open WebUI holding its write lock longer than the busy timeout', () => {
  it('makes the sync wait and retry (SQLITE_BUSY), then finish', async () => {
    const t = await setupTenant({ name: 'busy', journal: 'rollback', seed: { users: 1, chatsPerUser: 5 } });
    // Another process takes the exclusive lock of the rollback journal for 6.5 s (the busy timeout is 5 s).
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `
      const D = require(${JSON.stringify(path.join(ROOT, 'node_modules/better-sqlite3'))});
      const db = new D(${JSON.stringify(t.sqlitePath)});
      db.exec('BEGIN EXCLUSIVE'); db.prepare("UPDATE chat SET title = 'locked' WHERE rowid = 1").run();
      console.log('locked');
      setTimeout(() => { db.exec('COMMIT'); db.close(); }, 6500);
    `,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    trackChild(holder.pid);
    await waitForLine(holder, (l) => l === 'locked');
    const started = Date.now();
    const res = await t.sync();
    expect(res.status).toBe('success');
    expect(Date.now() - started).toBeGreaterThan(5000);
    const [row] = await t.check`select count(*)::int as n from busy.chat where title = 'locked'`;
    expect(row!.n).toBe(1);
  }, 60_000);
});
