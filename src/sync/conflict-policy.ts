import {
  type ConflictConfig,
  DEFAULT_CONFIG_FILE,
  parseConflictConfig,
  readConflictConfigFile,
  tablePolicy,
} from '../conflicts/config.ts';
import type { SourcePlan } from '../model/plan.ts';
import type { Sql } from '../pg/connect.ts';
import type { Deployment } from '../pg/deployments.ts';
import { ConfigError } from '../util/errors.ts';
import { storedConflictConfig } from './jobs.ts';

// Which conflict strategy applies to each table of a run, from the deployment's stored configuration.

/** The deployment's conflict configuration (stored in PostgreSQL by conflicts config), or the shipped default. */
export async function loadConflictConfig(sql: Sql, dep: Deployment): Promise<ConflictConfig> {
  const stored = await storedConflictConfig(sql, dep.deployment_id);
  if (stored)
    return parseConflictConfig(
      { conflict_resolution: stored },
      `the stored configuration of client "${dep.client_name}"`,
    );
  return readConflictConfigFile(DEFAULT_CONFIG_FILE);
}

/** newest_wins needs a compare field the table has, of a type that orders. */
export function checkCompareFields(cfg: ConflictConfig, plan: SourcePlan, client: string) {
  for (const t of plan.tables) {
    const p = tablePolicy(cfg, t.name);
    if (p.strategy !== 'newest_wins') continue;
    const col = t.columns.find((c) => c.name === p.compareField);
    if (!col && cfg.conflict_resolution.table_strategies[t.name]) {
      throw new ConfigError(
        `conflict configuration of "${client}": table ${t.name} has no column ${p.compareField} to compare`,
        `set compare_field of ${t.name} to one of its columns (owui-sync conflicts config ${client} --file FILE)`,
      );
    }
    if (col && (col.pgType === 'json' || col.pgType === 'bytea')) {
      throw new ConfigError(
        `conflict configuration of "${client}": ${t.name}.${p.compareField} is ${col.pgType} and cannot be compared`,
        'choose a timestamp or number column as compare_field',
      );
    }
  }
}

/** The writer's view of the configuration: each table's policy (a compare field the table lacks is dropped). */
export function conflictPolicy(cfg: ConflictConfig, plan: SourcePlan, detect: boolean) {
  const policies = new Map(
    plan.tables.map((t) => {
      const p = tablePolicy(cfg, t.name);
      const q = t.columns.some((c) => c.name === p.compareField) ? p : { ...p, compareField: '' };
      return [t.name, { ...q, detect }];
    }),
  );
  const log = cfg.conflict_resolution.resolution_log;
  return {
    policy: (table: string) => policies.get(table)!,
    snapshots: log.include_data_snapshot,
    logResolved: log.enabled,
  };
}
