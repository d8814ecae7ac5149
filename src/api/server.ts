import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { Agent } from '../cluster/agent.ts';
import { leaseView, readLeases } from '../cluster/lease.ts';
import { clusterJobCounts, hostAgents } from '../cluster/node-sql.ts';
import { enqueue } from '../cluster/queue.ts';
import { StateUnavailableError, StateUpdate } from '../cluster/state.ts';
import { listConflicts, resolveConflict } from '../ops/conflicts.ts';
import { isTransientPgError } from '../pg/connect.ts';
import { ConfigError, causedBy, messageOf, NotFoundError, type OwuiError } from '../util/errors.ts';
import { packageVersion } from '../util/paths.ts';
import { redactText } from '../util/redact.ts';
import { checkBearer } from './auth.ts';

const MAX_BODY = 64 * 1024;
const FORWARDED = 'x-owui-sync-forwarded-by';

/** An answer with a status: handlers throw it for 4xx. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

interface Req {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
  subject: string;
}

type Handler = (req: Req) => Promise<{ status?: number; body: unknown; headers?: Record<string, string> }>;

interface Route {
  method: string;
  pattern: RegExp;
  auth: boolean;
  /** Served by the leader: a follower forwards it. */
  leader?: boolean;
  handler: (req: Req, m: RegExpExecArray) => ReturnType<Handler>;
}

const TriggerBody = z.object({ client_name: z.string().min(1).max(100), full_sync: z.boolean().optional() }).strict();
const ResolveBody = z.object({ use: z.enum(['source', 'target', 'merged']) }).strict();
const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';

/**
 * The agent's HTTP API (both nodes): /health and /metrics open, the rest behind a JWT. Every answer is
 * JSON (metrics excepted); bad input is a 4xx with {"error": ...}, never a crash.
 */
export class ApiServer {
  private server: http.Server;
  private readonly routes: Route[];

  constructor(
    private readonly agent: Agent,
    private readonly secret: Uint8Array | null,
  ) {
    this.routes = [
      { method: 'GET', pattern: /^\/health$/, auth: false, handler: async () => this.health() },
      { method: 'GET', pattern: /^\/metrics$/, auth: false, handler: async () => this.metrics() },
      {
        method: 'GET',
        pattern: /^\/api\/v1\/cluster\/status$/,
        auth: true,
        handler: async () => ({ body: await this.clusterStatus() }),
      },
      { method: 'GET', pattern: /^\/api\/v1\/state$/, auth: true, handler: async (r) => this.getState(r) },
      {
        method: 'PUT',
        pattern: /^\/api\/v1\/state$/,
        auth: true,
        leader: true,
        handler: async (r) => this.putState(r),
      },
      {
        method: 'POST',
        pattern: /^\/api\/v1\/sync\/trigger$/,
        auth: true,
        leader: true,
        handler: async (r) => this.trigger(r),
      },
      { method: 'GET', pattern: /^\/api\/v1\/conflicts$/, auth: true, handler: async (r) => this.conflicts(r) },
      {
        method: 'POST',
        pattern: new RegExp(`^/api/v1/conflicts/(${UUID})/resolve$`),
        auth: true,
        leader: true,
        handler: async (r, m) => this.resolve(r, m[1]!),
      },
    ];
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        // Last resort: an answer, never a crash.
        this.agent.log.error({ err: redactText(messageOf(err)) }, 'API handler failed');
        if (!res.headersSent) send(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    });
    this.server.requestTimeout = 30_000;
    this.server.headersTimeout = 10_000;
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return send(res, 400, { error: 'malformed request URL' });
    }
    const method = req.method ?? 'GET';
    const matching = this.routes.filter((r) => r.pattern.test(url.pathname));
    if (matching.length === 0)
      return send(res, 404, {
        error: `no such endpoint: ${url.pathname.slice(0, 200)}`,
        endpoints: [
          '/health',
          '/metrics',
          '/api/v1/cluster/status',
          '/api/v1/state',
          '/api/v1/sync/trigger',
          '/api/v1/conflicts',
          '/api/v1/conflicts/{id}/resolve',
        ],
      });
    const route = matching.find((r) => r.method === method);
    if (!route) {
      res.setHeader('Allow', matching.map((r) => r.method).join(', '));
      return send(res, 405, {
        error: `${method} is not allowed on ${url.pathname}`,
        allow: matching.map((r) => r.method),
      });
    }
    let body = '';
    try {
      body = await readBody(req);
    } catch (err) {
      return send(res, err instanceof HttpError ? err.status : 400, { error: messageOf(err) });
    }
    let subject = 'anonymous';
    if (route.auth) {
      if (!this.secret)
        return send(res, 503, {
          error: 'the API secret is not configured on this node',
          hint: `write it to ${this.agent.settings.jwtSecretFile} (OWUI_SYNC_JWT_SECRET_FILE) and restart the agent`,
        });
      const a = await checkBearer(this.secret, req.headers.authorization);
      if (!a.ok) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="owui-sync"');
        return send(res, 401, { error: a.reason });
      }
      subject = a.subject;
    }
    if (route.leader && !this.agent.isLeader) return this.forward(req, res, url, body);
    const m = route.pattern.exec(url.pathname)!;
    try {
      const out = await route.handler(
        { method, path: url.pathname, query: url.searchParams, headers: req.headers, body, subject },
        m,
      );
      for (const [k, v] of Object.entries(out.headers ?? {})) res.setHeader(k, v);
      if (typeof out.body === 'string') {
        res.writeHead(out.status ?? 200);
        res.end(out.body);
      } else send(res, out.status ?? 200, out.body);
    } catch (err) {
      if (err instanceof HttpError) return send(res, err.status, { error: err.message, ...err.extra });
      // By the error's type (also when wrapped with context), not by its CLI exit code: a refused login is
      // exit code 2 on the command line too, but for an API caller it is the server's fault, not the request's.
      if (causedBy(err, NotFoundError)) return send(res, 404, { error: messageOf(err), hint: (err as OwuiError).hint });
      if (causedBy(err, ConfigError))
        return send(res, 400, { error: redactText(messageOf(err)), hint: (err as OwuiError).hint });
      if (isTransientPgError(err) || err instanceof StateUnavailableError)
        return send(res, 503, {
          error: redactText(messageOf(err)),
          hint: 'PostgreSQL is unreachable from this node; try again shortly',
        });
      this.agent.log.error({ err: redactText(messageOf(err)), path: url.pathname }, 'API request failed');
      return send(res, 500, { error: redactText(messageOf(err)), hint: (err as OwuiError).hint });
    }
  }

  /**
   * A mutating call reached a follower: pass it to the leader with the caller's token, once (a request
   * already forwarded is refused, so a stale view on both sides cannot loop).
   */
  private async forward(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string): Promise<void> {
    const l = this.agent.leader;
    const who = { leader_id: l.leader_id, leader_url: l.leader_url, term: l.term };
    if (req.headers[FORWARDED])
      return send(res, 409, { error: 'this node is not the leader (the request was already forwarded once)', ...who });
    if (!l.live || !l.leader_url || l.leader_id === this.agent.nodeId)
      return send(res, 503, { error: 'no leader at the moment; try again in a few seconds', ...who });
    try {
      const r = await fetch(new URL(url.pathname + url.search, l.leader_url), {
        method: req.method,
        headers: {
          authorization: req.headers.authorization ?? '',
          'content-type': 'application/json',
          [FORWARDED]: this.agent.nodeId,
        },
        body: body || undefined,
        signal: AbortSignal.timeout(15_000),
      });
      const text = await r.text();
      res.setHeader('X-Owui-Sync-Forwarded-To', l.leader_id ?? '');
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
      res.end(text);
    } catch (err) {
      send(res, 502, {
        error: `could not reach the leader at ${l.leader_url}: ${messageOf(err)}`,
        ...who,
        hint: 'send the request to the leader directly, or retry once the cluster has settled',
      });
    }
  }

  // ---- handlers --------------------------------------------------------------------------------

  healthBody(): { status: 'ok' | 'degraded' | 'unhealthy'; [k: string]: unknown } {
    const a = this.agent;
    const s = a.settings;
    const downFor = a.db.failingSince ? (Date.now() - a.db.failingSince) / 1000 : 0;
    let status: 'ok' | 'degraded' | 'unhealthy' = 'ok';
    const problems: string[] = [];
    if (a.stopping) {
      status = 'unhealthy';
      problems.push('shutting down');
    } else if (!a.db.reachable) {
      status = downFor >= s.leaseSeconds ? 'unhealthy' : 'degraded';
      problems.push(`PostgreSQL unreachable for ${Math.round(downFor)} s`);
    } else if (!a.state?.listening) {
      status = 'degraded';
      problems.push('notification connection down (state is read from PostgreSQL on every request)');
    }
    return {
      status,
      problems,
      node_id: a.nodeId,
      role: s.role,
      is_leader: a.isLeader,
      leader_id: a.leader.live ? a.leader.leader_id : null,
      leader_url: a.leader.live ? a.leader.leader_url : null,
      term: a.leader.term,
      cluster_name: a.cluster,
      host: a.hostname,
      uptime_seconds: Math.round((Date.now() - a.startedAt) / 1000),
      database: {
        reachable: a.db.reachable,
        last_ok_at: a.db.lastOkAt?.toISOString() ?? null,
        error: a.db.reachable ? null : a.db.error,
      },
      last_heartbeat: a.lastHeartbeat?.toISOString() ?? null,
      jobs_running: [...a.running.values()].map((r) => ({
        job_id: r.job.job_id,
        client: r.job.client_name,
        seconds: Math.round((Date.now() - r.startedAt) / 1000),
      })),
      version: packageVersion(),
    };
  }

  private async health() {
    const b = this.healthBody();
    return { status: b.status === 'unhealthy' ? 503 : 200, body: b };
  }

  private async metrics() {
    const text = await this.agent.metrics.registry.metrics();
    return { body: text, headers: { 'content-type': this.agent.metrics.registry.contentType } };
  }

  private async clusterStatus() {
    const a = this.agent;
    const [[lease], host, jobs] = await Promise.all([
      readLeases(a.sql, a.cluster),
      hostAgents(a.sql, a.hostId),
      clusterJobCounts(a.sql, a.cluster),
    ]);
    return {
      cluster_name: a.cluster,
      lease: leaseView(lease),
      nodes: host?.agents ?? {},
      host: { name: a.hostname, last_heartbeat: host?.last_heartbeat ?? null },
      jobs,
      this_node: this.healthBody(),
    };
  }

  private async getState(r: Req) {
    const client = r.query.get('client') ?? undefined;
    if (client !== undefined && (client === '' || client.length > 100))
      throw new HttpError(400, 'client must be 1 to 100 characters');
    const read = await this.agent.state.read(client);
    const headers: Record<string, string> = { 'x-owui-sync-state-source': read.source };
    if (read.stale) headers.warning = '110 - "Response is Stale"';
    const meta = {
      source: read.source,
      stale: read.stale,
      cached_at: read.cached_at,
      age_seconds: read.age_seconds,
      node_id: this.agent.nodeId,
    };
    return { headers, body: client !== undefined ? { ...read.states[0], ...meta } : { states: read.states, ...meta } };
  }

  private async putState(r: Req) {
    const u = parseBody(r.body, StateUpdate);
    const state = await this.agent.state.update(u);
    this.agent.log.info({ client: u.client, by: r.subject, change: u }, 'state updated');
    return { body: { ...state, node_id: this.agent.nodeId } };
  }

  private async trigger(r: Req) {
    const b = parseBody(r.body, TriggerBody);
    const e = await enqueue(this.agent.sql, this.agent.cluster, b.client_name, {
      full: !!b.full_sync,
      triggeredBy: `api:${r.subject}`,
    });
    if (e.created && e.status === 'pending') this.agent.jobsWake.fireOne();
    this.agent.log.info(
      { client: b.client_name, job_id: e.job_id, created: e.created, by: r.subject },
      'sync triggered',
    );
    return {
      status: e.created ? 202 : 200,
      body: {
        ...e,
        client_name: b.client_name,
        full_sync: !!b.full_sync,
        note:
          e.status === 'waiting'
            ? `a run of this client is in progress (job ${e.after_job_id}); this job starts when it ends, so it sees the changes made since`
            : e.created
              ? 'queued'
              : 'a queued job of this client has not started yet; it covers this request',
      },
    };
  }

  private async conflicts(r: Req) {
    const client = r.query.get('client') ?? undefined;
    const limitText = r.query.get('limit');
    const limit = limitText === null ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new HttpError(400, 'limit must be a whole number from 1 to 1000');
    const pendingText = r.query.get('pending');
    if (pendingText !== null && pendingText !== 'true' && pendingText !== 'false')
      throw new HttpError(400, 'pending must be true or false');
    if (client !== undefined) await this.agent.state.read(client);
    const rows = await listConflicts(this.agent.sql, { client, pending: pendingText === 'true', limit });
    return { body: { conflicts: rows, count: rows.length } };
  }

  private async resolve(r: Req, id: string) {
    const b = parseBody(r.body, ResolveBody);
    const row = await resolveConflict(this.agent.sql, id, b.use, `api:${r.subject}`);
    this.agent.log.info({ log_id: id, use: b.use, by: r.subject }, 'conflict resolved');
    return { body: row };
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, `request body over ${MAX_BODY} bytes`));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Bodies are JSON whatever the content type says (curl -d sends form encoding by default). */
function parseBody<T>(text: string, schema: z.ZodType<T>): T {
  if (text.trim() === '') throw new HttpError(400, 'a JSON body is required');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'the body is not valid JSON');
  }
  const r = schema.safeParse(v);
  if (!r.success) {
    throw new HttpError(400, 'invalid body', {
      issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  return r.data;
}
