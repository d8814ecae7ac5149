import fs from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../util/errors.ts';
import { packagePath } from '../util/paths.ts';

import { MERGE_RULES, type MergeRule, STRATEGIES, type Strategy } from './strategies.ts';

export { MERGE_RULES, type MergeRule, STRATEGIES, type Strategy };

const tableStrategy = z
  .object({
    strategy: z.enum(STRATEGIES),
    compare_field: z.string().min(1).optional(),
    merge_rules: z.record(z.string().min(1), z.enum(MERGE_RULES)).optional(),
    notify: z.boolean().optional(),
    reason: z.string().optional(),
  })
  .strict();

/** The format of templates/conflict-resolution-default.json (docs/conflicts.md), as the legacy specification wrote it. */
export const conflictConfigSchema = z
  .object({
    conflict_resolution: z
      .object({
        default_strategy: z.enum(STRATEGIES),
        table_strategies: z.record(z.string().min(1), tableStrategy).default({}),
        resolution_log: z
          .object({
            enabled: z.boolean().default(true),
            retention_days: z.number().int().min(1).max(3650).default(30),
            include_data_snapshot: z.boolean().default(true),
          })
          .strict()
          .default({ enabled: true, retention_days: 30, include_data_snapshot: true }),
      })
      .strict(),
  })
  .strict();

export type ConflictConfig = z.infer<typeof conflictConfigSchema>;

/** Used until an operator stores a configuration: the shipped templates/conflict-resolution-default.json. */
export const DEFAULT_CONFIG_FILE = packagePath('templates', 'conflict-resolution-default.json');

export function parseConflictConfig(value: unknown, where: string): ConflictConfig {
  const r = conflictConfigSchema.safeParse(value);
  if (!r.success) {
    const lines = r.error.issues.slice(0, 8).map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new ConfigError(
      `invalid conflict configuration in ${where}:\n  ${lines.join('\n  ')}`,
      `see templates/conflict-resolution-default.json for the format; strategies: ${STRATEGIES.join(', ')}; merge rules: ${MERGE_RULES.join(', ')}`,
    );
  }
  for (const [table, t] of Object.entries(r.data.conflict_resolution.table_strategies)) {
    if (t.merge_rules && t.strategy !== 'merge')
      throw new ConfigError(
        `invalid conflict configuration in ${where}: table ${table} has merge_rules but strategy ${t.strategy}`,
        'merge_rules apply to strategy "merge" only',
      );
  }
  return r.data;
}

export function readConflictConfigFile(file: string | URL): ConflictConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read ${String(file)}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      'check the path of --file',
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `${String(file)} is not valid JSON: ${(err as Error).message}`,
      'fix the JSON syntax (a JSON linter shows where)',
    );
  }
  return parseConflictConfig(json, String(file));
}

export interface TablePolicy {
  strategy: Strategy;
  compareField: string;
  mergeRules: Record<string, MergeRule>;
  detect?: boolean;
}

/** What one table does with a conflict. compare_field defaults to updated_at. */
export function tablePolicy(cfg: ConflictConfig, table: string): TablePolicy {
  const t = cfg.conflict_resolution.table_strategies[table];
  return {
    strategy: t?.strategy ?? cfg.conflict_resolution.default_strategy,
    compareField: t?.compare_field ?? 'updated_at',
    mergeRules: t?.merge_rules ?? {},
  };
}
