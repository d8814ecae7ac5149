import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { introspect } from '../src/sqlite/introspect.ts';
import { openTenant } from '../src/sqlite/open.ts';
import { TableReader } from '../src/sqlite/reader.ts';
import { createTenantDb, seedTenant } from '../src/sqlite/sample.ts';
import { tmpDir } from './helpers.ts';

describe('page reads bounded by time (rollback-journal tenants)', () => {
  it('assemble the same page from many short statements as from one, for every kind of read', () => {
    const file = path.join(tmpDir(), 'webui.db');
    const w = createTenantDb(file, { journal: 'delete' });
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
