import { describe, expect, it } from 'vitest';
import { clusterJobCounts, lastSyncs } from '../src/cluster/node-sql.ts';
import { anyToNotify } from '../src/cluster/notifier.ts';
import { claim, enqueueDue, nextDueInMs } from '../src/cluster/queue.ts';
import { recentJobs } from '../src/ops/overview.ts';
import { connect } from '../src/pg/connect.ts';
import { getDeployment } from '../src/pg/deployments.ts';
import { runSync } from '../src/sync/engine.ts';
import { onCleanup, setupTenant } from './helpers.ts';

// History that costs O(1) per run (docs/fleet.md): with 100,000 jobs and 20,000 conflicts in the history, no
// statement a run, the scheduler, a worker's claim, the heartbeat or the menu's job list sends reads the history
// tables with a sequential scan. The statements are the real ones, captured from the driver as the code sends
// them, then explained as the host role (row level security included) with their own parameters. The database
// also holds the deployments of 200 other hosts: no statement reads every deployment of the fleet, and no policy
// calls its role lookup once per row (4,000 deployments made every statement of a host cost 340 ms).

const HISTORY = ['sync_jobs', 'conflict_log', 'sync_progress', 'cache_events', 'rejected_rows'];

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Filter?: string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  Plans?: PlanNode[];
}

/** The fleet's own tables, which grow with the number of hosts. */
const FLEET = ['client_deployments', 'hosts'];
const LOOKUP = /my_host_ids\(\)|my_cluster_names\(\)/;

function seqScans(n: PlanNode, out: string[] = []): string[] {
  if (n['Node Type'] === 'Seq Scan' && n['Relation Name'] && [...HISTORY, ...FLEET].includes(n['Relation Name']))
    out.push(n['Relation Name']);
  // A policy's role lookup in a row filter runs once per row; as an InitPlan it runs once per statement.
  for (const k of ['Filter', 'Index Cond', 'Recheck Cond'] as const)
    if (LOOKUP.test(String(n[k] ?? ''))) out.push(`${n['Relation Name'] ?? n['Node Type']} (role lookup per row)`);
  for (const c of n.Plans ?? []) seqScans(c, out);
  return out;
}

describe('history at fleet size', () => {
  it('no per-run, scheduler, claim, heartbeat or menu statement scans the history tables in sequence (100,000 jobs)', async () => {
    const t = await setupTenant({ name: 'hist' });
    expect((await t.sync()).status).toBe('success');
    const [d] = await t.check<{ id: string; cluster: string }[]>`
      select d.deployment_id::text as id, h.cluster_name as cluster
      from sync_metadata.client_deployments d join sync_metadata.hosts h using (host_id) where d.client_name = 'hist'`;
    // A long history: finished jobs over 100 days, and the conflicts of some of them.
    await t.check`
      insert into sync_metadata.sync_jobs (deployment_id, client_name, status, started_at, completed_at, sync_type, metadata, queued_at)
      select ${d!.id}::uuid, 'hist', case when g % 10 = 0 then 'failed' else 'success' end,
             localtimestamp - make_interval(mins => g), localtimestamp - make_interval(mins => g) + interval '2 seconds',
             'incremental', '{"kind": "incremental", "skipped_tables": []}'::jsonb,
             case when g % 2 = 0 then now() - make_interval(mins => g) end
      from generate_series(1, 100000) g`;
    await t.check`
      insert into sync_metadata.conflict_log (deployment_id, client_name, table_name, record_id, conflict_type, resolution_strategy, resolved_at, detected_at)
      select ${d!.id}::uuid, 'hist', 'chat', 'r' || g, 'update_conflict', 'newest_wins', now(), now() - make_interval(mins => g)
      from generate_series(1, 20000) g`;
    await t.check`
      insert into sync_metadata.rejected_rows (deployment_id, client_name, table_name, record_id, reason, resolved_at)
      select ${d!.id}::uuid, 'hist', 'chat', jsonb_build_array('r' || g), 'test', now() from generate_series(1, 10000) g`;
    // The rest of the fleet: 200 hosts of 20 deployments each.
    await t.check`
      insert into sync_metadata.hosts (hostname, role_name, cluster_name, status)
      select 'other' || g, 'other_role_' || g, 'other' || g, 'active' from generate_series(1, 200) g`;
    await t.check`
      insert into sync_metadata.client_deployments (client_name, container_name, host_id, database_type, sync_enabled, sync_interval, status, config)
      select h.hostname || '_t' || g, 'c_' || h.hostname || '_' || g, h.host_id, 'sqlite', true, 60, 'active', '{"sqlite_path": "/x"}'::jsonb
      from sync_metadata.hosts h, generate_series(1, 20) g where h.hostname like 'other%'`;
    for (const table of [...HISTORY, ...FLEET]) await t.check.unsafe(`ANALYZE sync_metadata.${table}`);

    const sent: { query: string; params: unknown[] }[] = [];
    const sql = connect(t.hostUrl, {
      what: 'the captured connection',
      max: 1,
      options: { debug: (_c: number, query: string, params: unknown[]) => sent.push({ query, params }) },
    });
    onCleanup(() => sql.end({ timeout: 2 }));
    // A run over an unchanged tenant, one over a changed one, and a forced reconciliation.
    expect((await runSync(sql, await getDeployment(sql, 'hist'))).kind).toBe('unchanged');
    t.db.prepare("UPDATE chat SET title = 'changed', updated_at = updated_at + 1 WHERE id = ?").run(t.chatIds[0]);
    expect((await runSync(sql, await getDeployment(sql, 'hist'))).status).toBe('success');
    expect((await runSync(sql, await getDeployment(sql, 'hist'), { full: true })).status).toBe('success');
    // The agent's own statements: scheduling, claiming, heartbeat figures, notifications; the menu's job list.
    await enqueueDue(sql, d!.cluster);
    await nextDueInMs(sql, d!.cluster);
    await claim(sql, d!.cluster, 'n1', 30);
    await lastSyncs(sql, d!.cluster);
    await clusterJobCounts(sql, d!.cluster);
    await anyToNotify(sql, d!.cluster);
    expect((await recentJobs(sql, 'hist', 15)).length).toBe(15);

    const seen = new Set<string>();
    const offenders: string[] = [];
    let explained = 0;
    for (const s of sent) {
      if (!/^\s*(select|insert|update|with)\b/i.test(s.query) || seen.has(s.query)) continue;
      seen.add(s.query);
      // The batch's merge reads its staging table, which lives only inside its transaction (and writes the
      // conflict log by key).
      if (![...HISTORY, ...FLEET].some((h) => s.query.includes(h)) || s.query.includes('pg_temp.')) continue;
      const rows = await t.sql.unsafe(`EXPLAIN (FORMAT JSON) ${s.query}`, s.params as never[]);
      explained++;
      const plan = (rows[0] as unknown as { 'QUERY PLAN': { Plan: PlanNode }[] })['QUERY PLAN'][0]!.Plan;
      const scans = seqScans(plan);
      if (scans.length)
        offenders.push(
          `${scans.join(', ')}: ${s.query.replace(/\s+/g, ' ').slice(0, 300)}\n${JSON.stringify(plan).slice(0, 1500)}`,
        );
    }
    expect(explained).toBeGreaterThan(10);
    expect(offenders, offenders.join('\n')).toEqual([]);
  });
});
