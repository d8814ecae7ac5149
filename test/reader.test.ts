import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CopyEncoder, copyTextOf } from '../src/model/copy.ts';
import type { BinaryForm, TablePlan } from '../src/model/plan.ts';
import { copyLine, valuesOf } from '../src/model/values.ts';
import { introspect } from '../src/sqlite/introspect.ts';
import { openTenant } from '../src/sqlite/open.ts';
import { TableReader, unpack } from '../src/sqlite/reader.ts';
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
      const readMine = (after: unknown[] | null) => unpack(local.read({ kind: 'key', after }, limits), plan);
      let mine = readMine(null);
      let theirs = await remote.read({ kind: 'key', after: null }, limits);
      let pages = 0;
      for (;;) {
        const nextMine = mine.done ? null : readMine(mine.lastKey);
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

describe("a page's rows made from its COPY text (what the reader thread sends)", () => {
  it('are the rows read with their values: keys, hashes, raw side channel, count; escapes in keys included', () => {
    const file = path.join(tmpDir(), 'webui.db');
    const w = createTenantDb(file, { journal: 'wal' });
    const seeded = seedTenant(w, { users: 2, chatsPerUser: 20, messagesPerChat: 3 });
    const u = seeded.userIds[0]!;
    const ins = w.prepare(
      'INSERT INTO chat (id, user_id, title, chat, created_at, updated_at, share_id, archived, pinned, meta, folder_id) VALUES (?, ?, ?, ?, 1, 1, NULL, 0, 0, ?, NULL)',
    );
    // Keys with what COPY escapes, values that go to the raw side channel, JSON full of backslashes.
    ins.run('tab\there', u, 'a\0b', JSON.stringify({ s: 'line\nbreak "quoted" back\\slash' }), '{}');
    ins.run('back\\slash\nnewline\rcr', u, Buffer.from([0, 1, 255]), '{"x": "\\\\"}', '{}');
    ins.run('ünïcødé 🙂', u, 'plain', '{}', '{"n": 12345678901234567890}');
    // A large value (written into the COPY text by itself) with what COPY escapes.
    ins.run('large', u, 'large', JSON.stringify({ s: 'tab\there\\ ünï 🙂 '.repeat(400) }), '{}');
    w.prepare("UPDATE chat SET title = CAST(x'ff41fe' AS TEXT) WHERE id = ?").run(seeded.chatIds[0]);
    w.close();
    const db = openTenant(file);
    try {
      for (const name of ['chat', 'chat_message']) {
        const plan = introspect(db).tables.find((t) => t.name === name)!;
        const limits = { rows: 1000, bytes: 64 << 20 };
        const withValues = new TableReader(db, plan).read({ kind: 'key', after: null }, limits);
        const copied = new TableReader(db, plan, false, (n) => Buffer.allocUnsafeSlow(n)).read(
          { kind: 'key', after: null },
          limits,
        );
        // Sent without rows: counted, not made.
        expect(copied.rows).toHaveLength(0);
        expect(copied.count).toBe(withValues.rows.length);
        expect(copied.rawValues).toBe(withValues.rawValues);
        if (name === 'chat') expect(copied.rawValues).toBeGreaterThanOrEqual(3);
        const made = unpack(copied, plan).rows;
        const fields = (r: (typeof made)[number]) => ({ key: r.key, hash: r.hash, light: r.light, raw: r.raw });
        expect(made.map(fields)).toEqual(withValues.rows.map(fields));
        // The COPY text is each row's copyLine (what the writer sends for rows read with their values).
        expect(copied.copy!.toString()).toBe(
          withValues.rows.map((r) => copyLine(valuesOf(r), r.hash, r.raw, r.light)).join(''),
        );
        // Each row's place is its line of the page's COPY text.
        expect(made.map((r) => copied.copy!.toString('utf8', r.copy!.start, r.copy!.end).endsWith('\n'))).not.toContain(
          false,
        );
        expect(made.reduce((n, r) => n + r.bytes, 0)).toBe(copied.copy!.length);

        // The binary form (a mirror whose column types all have one): the same records, the same bytes as this
        // thread's encoder gives the rows read with values, and each row's text line again for the staging table.
        const bin = { ...plan, copyBinary: formsOf(plan) };
        const page = new TableReader(db, bin, false, (n) => Buffer.allocUnsafeSlow(n)).read(
          { kind: 'key', after: null },
          limits,
        );
        const binRows = unpack(page, bin).rows;
        expect(binRows.map(fields)).toEqual(withValues.rows.map(fields));
        const enc = new CopyEncoder(Buffer.allocUnsafe, 1024, bin.copyBinary);
        for (const r of withValues.rows) enc.add(valuesOf(r), r.hash, r.raw, r.light);
        expect(page.copy!.equals(enc.result())).toBe(true);
        expect(page.copy!.equals(copied.copy!)).toBe(false);
        expect(binRows.map((r) => copyTextOf(bin.copyBinary, page.copy!, r.copy!.start))).toEqual(
          withValues.rows.map((r) => copyLine(valuesOf(r), r.hash, r.raw, r.light)),
        );
        expect(binRows.reduce((n, r) => n + r.bytes, 0)).toBe(page.copy!.length);
      }
    } finally {
      db.close();
    }
  });
});

/** The binary forms of a mirror made by owui-sync for this plan (pg/tenant.ts binaryForms reads them from PostgreSQL). */
function formsOf(plan: TablePlan): BinaryForm[] {
  const form = { text: 'text', json: 'text', bigint: 'int8', boolean: 'bool' } as Record<string, BinaryForm>;
  return [...plan.columns.map((c) => form[c.pgType]!), 'text', 'jsonb', 'text'];
}
