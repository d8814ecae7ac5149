import { Agent, request } from 'undici';

/**
 * How long a node may take to answer before it counts as not answering. A healthy agent answers /health from
 * memory in milliseconds; an operator's screen or a script must not hang on a node that is gone.
 */
const CONNECT_TIMEOUT_MS = 1000;
const RESPONSE_TIMEOUT_MS = 1000;

/** What an agent's /health says (docs/agent.md "API"), as far as the cluster status uses it. */
export interface NodeHealth {
  status: 'ok' | 'degraded' | 'unhealthy';
  node_id: string;
  role: string;
  is_leader: boolean;
  leader_id: string | null;
  term: number | null;
  uptime_seconds: number;
  database: { reachable: boolean; error: string | null };
  last_heartbeat: string | null;
  problems: string[];
}

export type NodeAnswer = { up: true; http_status: number; health: NodeHealth } | { up: false; error: string };

let dispatcher: Agent | undefined;

/** GET {baseUrl}/health with explicit connect and response timeouts; never throws. */
export async function readNodeHealth(baseUrl: string): Promise<NodeAnswer> {
  dispatcher ??= new Agent({ connectTimeout: CONNECT_TIMEOUT_MS, keepAliveTimeout: 1 });
  try {
    const r = await request(new URL('/health', baseUrl), {
      dispatcher,
      headersTimeout: RESPONSE_TIMEOUT_MS,
      bodyTimeout: RESPONSE_TIMEOUT_MS,
    });
    const body = (await r.body.json()) as NodeHealth;
    // 503 is an answer too: the node is up and says it is unhealthy.
    return { up: true, http_status: r.statusCode, health: body };
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why =
      code === 'ECONNREFUSED'
        ? 'connection refused (no agent listens there)'
        : code === 'UND_ERR_CONNECT_TIMEOUT'
          ? `no answer to connect within ${CONNECT_TIMEOUT_MS} ms`
          : code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT'
            ? `no answer within ${RESPONSE_TIMEOUT_MS} ms`
            : (err as Error).message;
    return { up: false, error: why };
  }
}

/** Close the keep-alive sockets, so a command ends at once. */
export async function closeNodeHealth(): Promise<void> {
  const d = dispatcher;
  dispatcher = undefined;
  await d?.close();
}
