import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientAdd } from '../src/ops/clients.ts';
import { createTenantDb, seedTenant } from '../src/sqlite/sample.ts';
import { runMain, setupTenant, tmpDir } from './helpers.ts';

// Migrations at fleet size: a change to every mirror table (008's column) runs one client's schema a transaction,
// each recorded in sync_metadata.client_migrations, and an interrupted one resumes with the clients not done.

describe('a per-client migration', () => {
  it('runs one client a transaction, records each, and resumes with the clients an interrupted run left', async () => {
    const t = await setupTenant({ name: 'mig_a' });
    const file = path.join(tmpDir(), 'b.db');
    const db = createTenantDb(file);
    seedTenant(db, {});
    db.close();
    await clientAdd({ name: 'mig_b', sqlitePath: file, adminUrl: t.url, host: t.host });
    const lightColumns = async (schema: string) =>
      (
        await t.check<{ n: number }[]>`
          select count(*)::int as n from information_schema.columns where table_schema = ${schema} and column_name = '_sync_light'`
      )[0]!.n;
    const tables = await lightColumns('mig_a');
    expect(tables).toBeGreaterThan(5);
    // As before 008, and as if a run of it had been interrupted after mig_a: mig_b still lacks the column.
    for (const schema of ['mig_a', 'mig_b']) {
      const rels = await t.check<{ relname: string }[]>`
        select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = ${schema} and c.relkind = 'r'`;
      for (const r of rels)
        await t.check.unsafe(`alter table ${schema}.${JSON.stringify(r.relname)} drop column _sync_light`);
    }
    await t.check`delete from sync_metadata.schema_migrations where version = 8`;
    await t.check`delete from sync_metadata.client_migrations where version = 8`;
    await t.check`insert into sync_metadata.client_migrations (version, client_name) values (8, 'mig_a')`;

    const r = await runMain(['provision', '--json'], { OWUI_SYNC_ADMIN_URL: t.url });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      applied: ['008_light_hash.sql'],
      clientSteps: { '008_light_hash.sql': 1 },
    });
    // Only the client not done was migrated (mig_a was recorded as done), each in its own transaction.
    expect(await lightColumns('mig_b')).toBe(tables);
    expect(await lightColumns('mig_a')).toBe(0);
    const done = await t.check<{ client_name: string; tx: string }[]>`
      select client_name, xmin::text as tx from sync_metadata.client_migrations where version = 8 order by client_name`;
    expect(done.map((d) => d.client_name)).toEqual(['mig_a', 'mig_b']);
    expect(new Set(done.map((d) => d.tx)).size).toBe(2);
    const [v] = await t.check<
      { n: number }[]
    >`select count(*)::int as n from sync_metadata.schema_migrations where version = 8`;
    expect(v!.n).toBe(1);
    // Applied: nothing more to do the next time.
    const again = await runMain(['provision', '--json'], { OWUI_SYNC_ADMIN_URL: t.url });
    expect(JSON.parse(again.stdout)).toMatchObject({ applied: [], clientSteps: {} });
  });
});
