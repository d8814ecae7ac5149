import { beforeAll, describe, expect, it } from 'vitest';
import { setupTenant, type Tenant } from './helpers.ts';

describe('an old-style Open WebUI 0.6 database (peewee tables without primary keys)', () => {
  let t: Tenant;
  beforeAll(async () => {
    t = await setupTenant({ name: 'legacy06', style: 'v0.6', seed: { users: 2, chatsPerUser: 5, adversarial: true } });
  });

  it('syncs exactly, keyed by the unique indexes, and verifies identical', async () => {
    const r = await t.sync();
    expect(r.status).toBe('success');
    expect(r.skipped_tables).toEqual([]);
    const v = await t.verify();
    expect(v.differences).toEqual([]);
    const [n] = await t.check`select count(*)::int as n from legacy06.chat`;
    expect(n!.n).toBe(t.chatIds.length + 3);
  });

  it("gives legacy columns Open WebUI's own PostgreSQL types (INTEGER booleans, DATETIME epochs)", async () => {
    const cols = await t.check`
      select table_name || '.' || column_name || ':' || data_type as c from information_schema.columns
      where table_schema = 'legacy06' and (table_name, column_name) in (('chat','archived'),('chat','created_at'),('auth','active'),('function','is_global'),('user','settings'),('config','created_at'))
      order by 1`;
    expect(cols.map((c) => c.c)).toEqual([
      'auth.active:boolean',
      'chat.archived:boolean',
      'chat.created_at:bigint',
      'config.created_at:timestamp without time zone',
      'function.is_global:boolean',
      'user.settings:json',
    ]);
    const pk = await t.check`
      select tc.table_name, string_agg(k.column_name, ',' order by k.ordinal_position) as cols
      from information_schema.table_constraints tc join information_schema.key_column_usage k using (constraint_schema, constraint_name)
      where tc.table_schema = 'legacy06' and tc.constraint_type = 'PRIMARY KEY' and tc.table_name in ('chat','prompt','tag','document')
      group by tc.table_name order by 1`;
    expect(pk).toEqual([
      { table_name: 'chat', cols: 'id' },
      { table_name: 'document', cols: 'id' },
      { table_name: 'prompt', cols: 'command' },
      { table_name: 'tag', cols: 'id,user_id' },
    ]);
  });
});
