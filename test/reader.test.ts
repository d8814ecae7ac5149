import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { introspect } from '../src/sqlite/introspect.ts';
import { openTenant } from '../src/sqlite/open.ts';
import { TableReader } from '../src/sqlite/reader.ts';
import { createTenantDb, seedTenant } from '../src/sqlite/sample.ts';
import { openWorkerSource } from '../src/sqlite/source.ts';
import { tmpDir } from './helpers.ts';

describe('page reads bounded by time (rollback-journal tenants)', () => {
  it('assemble the same page from many short statements as from one, for every kind of read', () => {
    const file = path.join(tmpDir(), 'webui.db');
    const w = createTenantDb(file, { journal: 'rollback' });
    seedTenant(w, { users: 3, chatsPerUser: 40, messagesPerChat: 3 });
    w.close();
    const db = openTenant(file);
    try {
      const plan = introspect(db).tables.find((t) => t.name === 'chat_message')!;
      const reader = new TableReader(db, plan);
      const rows = { rows: 250, bytes: 64 << 20 };
      // statementMs 0: every statement ends after its first row, so a page takes 250 statements.
      for (const q of [
        { kind: 'key', after: null },
        { kind: 'cursor', min: 0n, after: null },
        { kind: 'rowid', after: 0n },
      ] as const) {
        const one = reader.read(q, rows);
        const many = reader.read(q, { ...rows, statementMs: 0 });
        expect(one.rows).toHaveLength(250);
        expect(many.rows.map((r) => r.key)).toEqual(one.rows.map((r) => r.key));
        expect(many.rows.map((r) => r.hash)).toEqual(one.rows.map((r) => r.hash));
        expect([many.done, many.lastKey, many.lastRowid]).toEqual([one.done, one.lastKey, one.lastRowid]);
      }
      // To the end of the table: done, with every row once.
      let after: unknown[] | null = null;
      const seen: string[] = [];
      for (;;) {
        const p = reader.read({ kind: 'key', after }, { rows: 100, bytes: 64 << 20, statementMs: 0 });
        seen.push(...p.rows.map((r) => r.key.join('|')));
        if (p.done) break;
        after = p.lastKey;
      }
      expect(seen).toHaveLength(360);
      expect(new Set(seen).size).toBe(360);
    } finally {
      db.close();
    }
  });
});

describe('the reader thread (a sync reads its tenant there)', () => {
  it('reuses a page buffer once it is given back: pages stay byte-for-byte what the same read in this thread gives', async () => {
    const file = path.join(tmpDir(), 'webui.db');
    const w = createTenantDb(file, { journal: 'wal' });
    seedTenant(w, { users: 3, chatsPerUser: 30, messagesPerChat: 4 });
    w.close();
    const db = openTenant(file);
    const src = await openWorkerSource(file);
    try {
      const plan = src.plan.tables.find((t) => t.name === 'chat_message')!;
      const local = new TableReader(db, plan, false, (n) => Buffer.allocUnsafeSlow(n));
      const remote = src.table(plan, 'copy');
      const limits = { rows: 40, bytes: 64 << 20 };
      // As a sync does: the next page is read while this one is written, then this one is given back.
      let mine = local.read({ kind: 'key', after: null }, limits);
      let theirs = await remote.read({ kind: 'key', after: null }, limits);
      let pages = 0;
      for (;;) {
        const nextMine = mine.done ? null : local.read({ kind: 'key', after: mine.lastKey }, limits);
        const nextTheirs = mine.done ? null : await remote.read({ kind: 'key', after: mine.lastKey }, limits);
        // Still intact with the next page read.
        expect(theirs.copy!.toString()).toBe(mine.copy!.toString());
        expect(theirs.rows.map((r) => r.key)).toEqual(mine.rows.map((r) => r.key));
        const stale = theirs.copy!.subarray(0, 16);
        src.recycle(theirs);
        // Given back: the page and its rows lose their COPY text, and a view kept by mistake reads nothing (the
        // memory went back to the reader thread, which writes the next pages into it).
        expect(theirs.copy).toBeUndefined();
        expect(theirs.rows.every((r) => r.copy === undefined)).toBe(true);
        expect(stale.length).toBe(0);
        pages++;
        if (!nextMine || !nextTheirs) break;
        mine = nextMine;
        theirs = nextTheirs;
      }
      expect(pages).toBeGreaterThan(5);
    } finally {
      await src.close();
      db.close();
    }
  });
});
