import { type LeaseRow, leaseView, readLeases } from '../cluster/lease.ts';
import { findHosts, hostAgents } from '../cluster/node-sql.ts';
import type { Sql } from '../pg/connect.ts';
import { ConfigError } from '../util/errors.ts';
import { type NodeAnswer, readNodeHealth } from './node-health.ts';

/** Who leads each cluster this login may see (the agents' lease rows). */
export function leases(sql: Sql): Promise<LeaseRow[]> {
  return readLeases(sql);
}

/** Where the pair answers when no agent has recorded its address yet (the legacy menus' ports). */
export const DEFAULT_NODES = [
  { node_id: 'primary', role: 'primary', url: 'http://127.0.0.1:9443' },
  { node_id: 'secondary', role: 'secondary', url: 'http://127.0.0.1:9444' },
];

export interface ClusterNode {
  node_id: string;
  role: string;
  url: string;
  /** From the host's heartbeat: when this node last wrote it. */
  last_seen: string | null;
  answer: NodeAnswer;
}

export interface ClusterStatus {
  host: string;
  cluster: string;
  lease: ReturnType<typeof leaseView>;
  nodes: ClusterNode[];
  /** What to do when no node answers. */
  hint?: string;
  /**
   * Set when PostgreSQL could not be read (`askNodesAgain`): the lease is then unknown (null here), and the nodes
   * were asked at the addresses read last.
   */
  database_error?: unknown;
}

/**
 * Both nodes of a host's cluster and its lease: the addresses the agents recorded in sync_metadata (their
 * heartbeat), else 127.0.0.1:9443 and :9444, each asked for /health with 1 s timeouts.
 */
export async function clusterStatus(sql: Sql, host?: string): Promise<ClusterStatus> {
  const hosts = await findHosts(sql, host ?? null, null);
  if (hosts.length === 0)
    throw new ConfigError(
      host
        ? `host "${host}" is not registered (or this login may not see it)`
        : 'no registered host is visible to this login',
      'register one: owui-sync provision --host NAME (admin connection); log in as that host role',
    );
  if (hosts.length > 1)
    throw new ConfigError(
      `this login sees ${hosts.length} hosts (${hosts.map((h) => h.hostname).join(', ')}): which one?`,
      'pass --host NAME',
    );
  const h = hosts[0]!;
  const [[lease], agents] = await Promise.all([readLeases(sql, h.cluster_name), hostAgents(sql, h.host_id)]);
  const recorded = Object.entries(agents?.agents ?? {}).map(([node_id, a]) => ({
    node_id,
    role: String(a.role ?? '?'),
    url: String(a.url ?? ''),
    last_seen: typeof a.last_seen === 'string' ? a.last_seen : null,
  }));
  const nodes = (recorded.length ? recorded : DEFAULT_NODES.map((n) => ({ ...n, last_seen: null }))).sort(
    (a, b) => a.role.localeCompare(b.role) || a.node_id.localeCompare(b.node_id),
  );
  const answered = await Promise.all(nodes.map(async (n) => ({ ...n, answer: await readNodeHealth(n.url) })));
  const status: ClusterStatus = {
    host: h.hostname,
    cluster: h.cluster_name,
    lease: leaseView(lease),
    nodes: answered,
  };
  if (!answered.some((n) => n.answer.up))
    status.hint = `no agent answers: start them (ROLE=primary owui-sync agent --host ${h.hostname}; ROLE=secondary ...) or deploy the pair`;
  return status;
}

/**
 * The nodes of an earlier status asked again, for when PostgreSQL cannot be read: each agent answers /health on its
 * own, so an operator still sees which node is up and what it says (unhealthy, no leader, database unreachable)
 * rather than the last lines read before the database went away.
 */
export async function askNodesAgain(last: ClusterStatus, databaseError: unknown): Promise<ClusterStatus> {
  const nodes = await Promise.all(last.nodes.map(async (n) => ({ ...n, answer: await readNodeHealth(n.url) })));
  return { host: last.host, cluster: last.cluster, lease: null, nodes, database_error: databaseError };
}
