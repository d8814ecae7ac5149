import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { introspect, pgTypeFor } from '../src/sqlite/introspect.ts';
import { openTenant } from '../src/sqlite/open.ts';
import { createTenantDb } from '../src/sqlite/sample.ts';
import { setupTenant, tmpDir } from './helpers.ts';

describe('table discovery at run time', () => {
  let file: string;
  beforeAll(() => {
    file = path.join(tmpDir(), 'webui.db');
    const db = createTenantDb(file);
    // What later Open WebUI versions and Alembic leave behind.
    db.exec(`
      CREATE VIRTUAL TABLE chat_message_fts USING fts5(content);
      INSERT INTO chat_message_fts (content) VALUES ('hello');
      CREATE TABLE _alembic_tmp_chat (id TEXT PRIMARY KEY, title TEXT);
      CREATE TABLE keyless_log (line TEXT, at BIGINT);
      INSERT INTO keyless_log VALUES ('no key here', 1);
      ALTER TABLE chat ADD COLUMN timer_at BIGINT;
    `);
    db.close();
  });

  it('skips sqlite_ tables, FTS virtual and shadow tables and _alembic_tmp_ tables, and reports keyless ones', () => {
    const db = openTenant(file);
    try {
      const plan = introspect(db);
      const names = plan.tables.map((t) => t.name);
      expect(names).toHaveLength(43);
      expect(
        names.some((n) => n.startsWith('chat_message_fts') || n.startsWith('_alembic_tmp_') || n.startsWith('sqlite_')),
      ).toBe(false);
      expect(plan.skipped).toEqual([
        { table: 'keyless_log', reason: 'no primary key and no unique index: rows cannot be identified' },
      ]);
      const chat = plan.tables.find((t) => t.name === 'chat')!;
      expect(chat.columns.map((c) => c.name)).toContain('timer_at');
      expect(chat).toMatchObject({
        key: ['id'],
        keySource: 'primary',
        hasUpdatedAt: true,
        updatedAtIndexed: true,
        hasRowid: true,
      });
      expect(plan.tables.find((t) => t.name === 'chat_message')).toMatchObject({ updatedAtIndexed: false });
      expect(plan.tables.find((t) => t.name === 'tag')).toMatchObject({ key: ['id', 'user_id'], hasUpdatedAt: false });
    } finally {
      db.close();
    }
  });

  it('maps declared types to the types Open WebUI uses on PostgreSQL', () => {
    expect(
      [
        'JSON',
        'BIGINT',
        'INTEGER',
        'BOOLEAN',
        'VARCHAR(255)',
        'TEXT',
        'DATE',
        'DATETIME',
        'BLOB',
        'REAL',
        'NUMERIC',
        '',
      ].map(pgTypeFor),
    ).toEqual([
      'json',
      'bigint',
      'bigint',
      'boolean',
      'text',
      'text',
      'date',
      'timestamp',
      'bytea',
      'double precision',
      'numeric',
      'text',
    ]);
  });

  it('syncs a tenant with FTS and keyless tables, reporting the skipped table every run', async () => {
    const t = await setupTenant({ name: 'fts' });
    t.db.exec(`CREATE VIRTUAL TABLE chat_message_fts USING fts5(content); CREATE TABLE keyless_log (line TEXT);`);
    const r = await t.sync();
    expect(r.status).toBe('success');
    expect(r.skipped_tables.map((s) => s.table)).toEqual(['keyless_log']);
    const [n] =
      await t.check`select count(*)::int as n from information_schema.tables where table_schema = 'fts' and table_name like 'chat_message_fts%'`;
    expect(n!.n).toBe(0);
  });
});
