import { type LeaseRow, readLeases } from '../cluster/lease.ts';
import type { Sql } from '../pg/connect.ts';

/** Who leads each cluster this login may see (the agents' lease rows). */
export function leases(sql: Sql): Promise<LeaseRow[]> {
  return readLeases(sql);
}
