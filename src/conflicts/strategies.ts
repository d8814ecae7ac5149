// The names of the conflict strategies and merge rules, apart from their zod schema (config.ts), so that the
// command line can offer them without loading zod at every start.

export const STRATEGIES = ['newest_wins', 'source_wins', 'target_wins', 'merge', 'manual'] as const;
export type Strategy = (typeof STRATEGIES)[number];
export const MERGE_RULES = ['append', 'union', 'newest_wins'] as const;
export type MergeRule = (typeof MERGE_RULES)[number];
