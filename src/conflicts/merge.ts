import type { TablePlan } from '../model/plan.ts';
import type { MergeRule, TablePolicy } from './config.ts';

/** The spec's example names chat fields by meaning: "messages" is the chat column's tree, "metadata" is meta. */
const ALIASES: Record<string, Record<string, string>> = { chat: { messages: 'chat', metadata: 'meta' } };

export function resolveRuleColumns(table: string, rules: Record<string, MergeRule>): Record<string, MergeRule> {
  const a = ALIASES[table] ?? {};
  return Object.fromEntries(Object.entries(rules).map(([k, v]) => [a[k] ?? k, v]));
}

type Msg = { id: string; parentId?: string | null; childrenIds?: string[]; timestamp?: number; [k: string]: unknown };
type ChatJson = {
  history?: { messages?: Record<string, Msg>; currentId?: string | null };
  messages?: Msg[];
  [k: string]: unknown;
};

const num = (v: unknown) =>
  typeof v === 'number' ? v : typeof v === 'string' && v !== '' && !Number.isNaN(Number(v)) ? Number(v) : -Infinity;

/**
 * Merge two versions of Open WebUI's chat JSON: every message of either side, by id, once (the newer
 * timestamp wins for a message both sides have; a tie keeps the target's); children lists united; the
 * current message is the newest leaf; the linear messages list is the path from the root to it.
 * Other keys come from `newer`.
 */
export function mergeChatJson(target: ChatJson, source: ChatJson, newer: 'source' | 'target'): ChatJson {
  const tm = target.history?.messages ?? {};
  const sm = source.history?.messages ?? {};
  const messages: Record<string, Msg> = {};
  for (const id of new Set([...Object.keys(tm), ...Object.keys(sm)])) {
    const t = tm[id];
    const s = sm[id];
    const pick = !t ? s! : !s ? t : num(s.timestamp) > num(t.timestamp) ? s : t;
    const children = [...new Set([...(t?.childrenIds ?? []), ...(s?.childrenIds ?? [])])];
    messages[id] = { ...pick, childrenIds: children };
  }
  for (const m of Object.values(messages)) m.childrenIds = (m.childrenIds ?? []).filter((c) => c in messages);
  const leaves = Object.values(messages).filter((m) => (m.childrenIds ?? []).length === 0);
  leaves.sort((a, b) => num(b.timestamp) - num(a.timestamp) || (a.id < b.id ? -1 : 1));
  const currentId = leaves[0]?.id ?? null;
  const linear: Msg[] = [];
  const seen = new Set<string>();
  for (
    let id: string | null | undefined = currentId;
    id && messages[id] && !seen.has(id);
    id = messages[id]!.parentId
  ) {
    seen.add(id);
    linear.unshift(messages[id]!);
  }
  const base = newer === 'source' ? source : target;
  return { ...base, history: { ...(base.history ?? {}), messages, currentId }, messages: linear };
}

/** append: the target's elements, then the source's that are not there yet (objects compared by id, else by value). */
function appendArrays(t: unknown[], s: unknown[]): unknown[] {
  const key = (x: unknown) =>
    x && typeof x === 'object' && 'id' in (x as object) ? `id:${String((x as { id: unknown }).id)}` : JSON.stringify(x);
  const have = new Set(t.map(key));
  return t.concat(s.filter((x) => !have.has(key(x))));
}

/**
 * Merge one column (canonical text of both sides, as stored) by its rule. JSON arrays are appended or
 * united; the chat column merges its message tree; anything else falls back to the newer side.
 */
export function mergeColumn(
  table: string,
  column: string,
  rule: MergeRule | undefined,
  t: string | null,
  s: string | null,
  newer: 'source' | 'target',
): string | null {
  const fallback = newer === 'source' ? s : t;
  if (!rule || rule === 'newest_wins' || t === null || s === null) return fallback;
  let tj: unknown;
  let sj: unknown;
  try {
    tj = JSON.parse(t);
    sj = JSON.parse(s);
  } catch {
    return fallback;
  }
  if (
    table === 'chat' &&
    column === 'chat' &&
    tj &&
    sj &&
    typeof tj === 'object' &&
    typeof sj === 'object' &&
    !Array.isArray(tj)
  ) {
    return JSON.stringify(mergeChatJson(tj as ChatJson, sj as ChatJson, newer));
  }
  if (Array.isArray(tj) && Array.isArray(sj)) {
    const merged = appendArrays(tj, sj);
    return JSON.stringify(rule === 'union' ? [...new Map(merged.map((x) => [JSON.stringify(x), x])).values()] : merged);
  }
  return fallback;
}

/** Is the source's compare-field value (canonical text) newer than the target's? A tie is not newer. */
export function newerThan(s: string | null, t: string | null): boolean {
  if (s === null) return false;
  if (t === null) return true;
  if (/^-?\d+$/.test(s) && /^-?\d+$/.test(t)) return BigInt(s) > BigInt(t); // nanosecond epochs exceed 2^53
  if (!Number.isNaN(Number(s)) && !Number.isNaN(Number(t))) return Number(s) > Number(t);
  return s > t;
}

/**
 * A merged row (canonical text per column, plan order): key columns from the target, every other column
 * by its merge rule, the newer side (by the compare field) where there is none. The chat column of the
 * chat table always merges its message tree, under any rule but newest_wins.
 */
export function mergeRow(
  t: TablePlan,
  policy: TablePolicy,
  target: (string | null)[],
  source: (string | null)[],
): (string | null)[] {
  const rules = resolveRuleColumns(t.name, policy.strategy === 'merge' ? policy.mergeRules : {});
  const ci = t.columns.findIndex((c) => c.name === policy.compareField);
  const newer = ci >= 0 && newerThan(source[ci]!, target[ci]!) ? 'source' : 'target';
  return t.columns.map((c, i) => {
    if (t.key.includes(c.name)) return target[i]!;
    const rule = rules[c.name] ?? (t.name === 'chat' && c.name === 'chat' ? 'union' : undefined);
    return mergeColumn(t.name, c.name, rule, target[i]!, source[i]!, newer);
  });
}
