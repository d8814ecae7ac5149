import fs from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { AUDIENCE, ISSUER } from '../src/api/auth.ts';
import { setConflictConfig } from '../src/ops/conflicts.ts';
import { rng } from '../src/sqlite/sample.ts';
import { AgentProc, api, apiSecret } from './agents.ts';
import { runCli, setupTenant, tmpDir } from './helpers.ts';

/** The metric names the legacy specification gave the sync containers (docs/agent.md "Metrics"). */
const SPEC_METRICS = {
  sync_operations_total: 'counter',
  sync_duration_seconds: 'histogram',
  sync_rows_processed_total: 'counter',
  conflicts_detected_total: 'counter',
  conflicts_resolved_total: 'counter',
  leader_elections_total: 'counter',
  sync_container_is_leader: 'gauge',
  state_cache_hits_total: 'counter',
  state_cache_misses_total: 'counter',
  state_sync_lag_seconds: 'gauge',
} as const;

/** A strict reader of the Prometheus text format (0.0.4): every line a comment or a well-formed sample. */
function parseProm(text: string) {
  const types = new Map<string, string>();
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/.test(line)) continue;
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) {
      types.set(t[1]!, t[2]!);
      continue;
    }
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? (-?[0-9.]+(?:e[+-]?\d+)?|NaN|\+Inf|-Inf)(?: -?\d+)?$/.exec(
        line,
      );
    if (!m) throw new Error(`not Prometheus text: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const base = m[1]!.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(m[1]!) && !types.has(base)) throw new Error(`sample without a TYPE: ${m[1]}`);
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { types, samples };
}

describe('the agent API', () => {
  it('checks tokens, answers bad input with 4xx JSON, forwards or refuses on the follower, and exposes the metrics the specification names', async () => {
    const t = await setupTenant({ name: 'api', seed: { users: 1, chatsPerUser: 3 } });
    const dir = tmpDir();
    const file = path.join(dir, 'conflicts.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        conflict_resolution: {
          default_strategy: 'manual',
          table_strategies: {},
          resolution_log: { enabled: true, retention_days: 30, include_data_snapshot: true },
        },
      }),
    );
    await setConflictConfig(t.sql, t.name, file);
    await t.sync();
    // One conflict waiting for an operator: changed on both sides.
    const id = t.chatIds[0]!;
    t.db
      .prepare('UPDATE chat SET title = ?, updated_at = ? WHERE id = ?')
      .run('Local', Math.floor(Date.now() / 1000) + 100, id);
    await t.check.unsafe(`UPDATE api.chat SET title = 'Remote' WHERE id = $1`, [id]);
    await t.sync();
    // Runs only when asked through the API.
    await t.check`update sync_metadata.client_deployments set sync_enabled = false where client_name = 'api'`;
    const s = apiSecret(dir);
    const a = await AgentProc.start(t, { role: 'primary', nodeId: 'api-a', secretFile: s.file });
    await a.until((h) => h.is_leader === true);
    const b = await AgentProc.start(t, { role: 'secondary', nodeId: 'api-b', secretFile: s.file });
    await b.until((h) => h.leader_id === 'api-a');
    const token = await s.token();

    // ---- auth
    expect((await api(a.url, '/health')).status).toBe(200);
    expect((await api(a.url, '/metrics')).status).toBe(200);
    const denied = async (tok: string | undefined, headers: Record<string, string> = {}) => {
      const r = await api(a.url, '/api/v1/cluster/status', { token: tok, headers });
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toContain('Bearer');
      expect(typeof r.body.error).toBe('string');
      if (tok) expect(r.text).not.toContain(tok);
      return r.body.error as string;
    };
    expect(await denied(undefined)).toContain('missing bearer token');
    expect(await denied(undefined, { authorization: 'Basic dXNlcjpwYXNz' })).toContain('missing bearer token');
    expect(await denied('not-a-jwt')).toContain('not a valid JWT');
    const sign = (claims: { exp?: number; aud?: string; iss?: string; iat?: number }, key = s.key, alg = 'HS256') =>
      new SignJWT({})
        .setProtectedHeader({ alg })
        .setIssuer(claims.iss ?? ISSUER)
        .setAudience(claims.aud ?? AUDIENCE)
        .setSubject('test')
        .setIssuedAt(claims.iat ?? Math.floor(Date.now() / 1000) - 1)
        .setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 60)
        .sign(key);
    expect(
      await denied(await sign({ exp: Math.floor(Date.now() / 1000) - 5, iat: Math.floor(Date.now() / 1000) - 100 })),
    ).toContain('expired');
    expect(await denied(await sign({}, new TextEncoder().encode('another-secret-of-at-least-32-bytes!!')))).toContain(
      'signature',
    );
    expect(await denied(await sign({ aud: 'someone-else' }))).toContain('aud');
    expect(await denied(await sign({ iss: 'someone-else' }))).toContain('iss');
    expect(await denied(await sign({}, s.key, 'HS512'))).toBeTruthy();
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 60, iat: Math.floor(Date.now() / 1000) })).toString('base64url')}.`;
    expect(await denied(unsigned)).toBeTruthy();
    const status = await api(a.url, '/api/v1/cluster/status', { token });
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({
      cluster_name: t.host,
      lease: { leader_id: 'api-a', live: true },
      nodes: { 'api-a': { role: 'primary' } },
    });

    // ---- the CLI's token works; a bad --ttl is a usage error
    const cliToken = await runCli(['token', '--ttl', '2m'], { OWUI_SYNC_JWT_SECRET_FILE: s.file });
    expect(cliToken.code).toBe(0);
    expect((await api(a.url, '/api/v1/state', { token: cliToken.stdout.trim() })).status).toBe(200);
    const badTtl = await runCli(['token', '--ttl', '0'], { OWUI_SYNC_JWT_SECRET_FILE: s.file });
    expect(badTtl.code).toBe(2);
    expect(badTtl.stderr).toContain('--ttl');
    const noSecret = await runCli(['token'], { OWUI_SYNC_JWT_SECRET_FILE: path.join(dir, 'missing') });
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toContain('hint:');

    // ---- routing
    expect((await api(a.url, '/nope')).status).toBe(404);
    const wrong = await api(a.url, '/api/v1/state', { method: 'DELETE', token });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, PUT');
    expect((await api(a.url, '/api/v1/state', { method: 'PUT', token, body: 'x'.repeat(70_000) })).status).toBe(413);
    expect((await api(a.url, '/api/v1/state?client=nobody', { token })).status).toBe(404);

    // ---- bodies, fuzzed: never a 5xx, always a JSON error, nothing changed
    const r = rng(7);
    // Never a valid combination: no registered client name, no valid status or interval among the atoms.
    const atom = () =>
      r.pick<unknown>([
        null,
        true,
        false,
        0,
        -1,
        1e308,
        3.5,
        '',
        'API',
        'Paused',
        'x'.repeat(r.int(3000)),
        '\u0000',
        '\ud800',
        '59s',
        [],
        {},
      ]);
    const value = (depth: number): unknown => {
      if (depth <= 0 || r.next() < 0.4) return atom();
      if (r.next() < 0.3) return Array.from({ length: r.int(4) }, () => value(depth - 1));
      const keys = [
        'client',
        'status',
        'sync_enabled',
        'sync_interval',
        'client_name',
        'full_sync',
        'use',
        '__proto__',
        'constructor',
        'x',
      ];
      return Object.fromEntries(Array.from({ length: r.int(5) }, () => [r.pick(keys), value(depth - 1)]));
    };
    const raw = () =>
      r.pick([
        () => JSON.stringify(value(4)),
        () => JSON.stringify(value(4)).slice(0, r.int(40)),
        () => Buffer.from(Array.from({ length: r.int(200) }, () => r.int(256))).toString('latin1'),
        () => '['.repeat(5000),
        () => `{"client":"api","status":"${'a'.repeat(r.int(100))}"}`,
        () => `{"client":"api","sync_interval":${r.pick(['-5', '0', '1e9', '"0s"', '"8d"', 'null'])}}`,
        () => '{"client_name":"api","full_sync":"yes"}',
        () => `{"use":"${r.pick(['both', 'SOURCE', '', 'target '])}"}`,
      ])();
    const endpoints = [
      { method: 'PUT', path: '/api/v1/state' },
      { method: 'POST', path: '/api/v1/sync/trigger' },
      { method: 'POST', path: `/api/v1/conflicts/${r.uuid()}/resolve` },
    ];
    let n = 0;
    for (let i = 0; i < 150; i++) {
      for (const e of endpoints) {
        const body = raw();
        const res = await api(r.next() < 0.5 ? a.url : b.url, e.path, { method: e.method, token, body });
        n++;
        expect(
          res.status,
          `${e.method} ${e.path} ${JSON.stringify(body).slice(0, 200)} -> ${res.text.slice(0, 200)}`,
        ).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(typeof res.body.error).toBe('string');
      }
    }
    expect(n).toBe(450);
    for (const q of ['limit=0', 'limit=abc', 'limit=100000', 'pending=maybe', 'client=', `client=${'x'.repeat(300)}`]) {
      const res = await api(a.url, `/api/v1/conflicts?${q}`, { token });
      expect([400, 404]).toContain(res.status);
    }
    expect((await a.health()).body).toMatchObject({ status: 'ok', is_leader: true });
    const [unchanged] =
      await t.check`select status, sync_enabled, sync_interval from sync_metadata.client_deployments where client_name = 'api'`;
    expect(unchanged).toEqual({ status: 'active', sync_enabled: false, sync_interval: 300 });

    // ---- a triggered sync runs; a second trigger while it waits is the same job
    const trig = await api(b.url, '/api/v1/sync/trigger', {
      method: 'POST',
      token,
      body: JSON.stringify({ client_name: 'api', full_sync: true }),
    });
    expect(trig.status).toBe(202);
    expect(trig.headers.get('x-owui-sync-forwarded-to')).toBe('api-a');
    expect(trig.body).toMatchObject({ created: true, client_name: 'api', full_sync: true });
    await Promise.race([a.waitFor((l) => l.event === 'sync_finished'), b.waitFor((l) => l.event === 'sync_finished')]);
    const [job] =
      await t.check`select status, sync_type, triggered_by from sync_metadata.sync_jobs where job_id = ${trig.body.job_id as string}`;
    expect(job).toEqual({ status: 'success', sync_type: 'full', triggered_by: 'api:test' });
    expect(
      (await api(a.url, '/api/v1/sync/trigger', { method: 'POST', token, body: '{"client_name":"nobody"}' })).status,
    ).toBe(404);

    // ---- conflicts: listed, and resolved through the follower (forwarded to the leader)
    const list = await api(a.url, '/api/v1/conflicts?client=api&pending=true', { token });
    expect(list.status).toBe(200);
    const pending = list.body.conflicts as { log_id: string; record_id: string }[];
    expect(pending.map((c) => c.record_id)).toEqual([id]);
    expect(
      (await api(a.url, `/api/v1/conflicts/${r.uuid()}/resolve`, { method: 'POST', token, body: '{"use":"source"}' }))
        .status,
    ).toBe(404);
    const resolved = await api(b.url, `/api/v1/conflicts/${pending[0]!.log_id}/resolve`, {
      method: 'POST',
      token,
      body: '{"use":"source"}',
    });
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({ resolved_by: 'api:test', winner: 'source' });
    expect((await t.check.unsafe(`select title from api.chat where id = $1`, [id]))[0]!.title).toBe('Local');

    // ---- a request already forwarded once is refused by a follower, with the leader's address
    const loop = await api(b.url, '/api/v1/state', {
      method: 'PUT',
      token,
      body: '{"client":"api","status":"paused"}',
      headers: { 'x-owui-sync-forwarded-by': 'api-a' },
    });
    expect(loop.status).toBe(409);
    expect(loop.body).toMatchObject({ leader_id: 'api-a', leader_url: a.url });

    // ---- metrics: valid Prometheus text with every metric the specification names
    const text = (await api(a.url, '/metrics')).text;
    const prom = parseProm(text);
    for (const [name, type] of Object.entries(SPEC_METRICS)) expect(prom.types.get(name), name).toBe(type);
    for (const name of [
      'owui_sync_deployment_lag_seconds',
      'owui_sync_last_success_timestamp_seconds',
      'owui_sync_leader_term',
      'process_cpu_user_seconds_total',
      'nodejs_heap_size_used_bytes',
    ])
      expect(prom.types.has(name), name).toBe(true);
    expect(prom.samples.find((x) => x.name === 'sync_container_is_leader')).toMatchObject({
      labels: { node_id: 'api-a' },
      value: 1,
    });
    expect(prom.samples.find((x) => x.name === 'owui_sync_leader_term')).toMatchObject({ value: 1 });
    expect(prom.samples.some((x) => x.name === 'state_cache_misses_total' && x.value > 0)).toBe(true);
    const both = prom.samples.concat(parseProm((await api(b.url, '/metrics')).text).samples);
    expect(both.find((x) => x.name === 'sync_operations_total' && x.labels.status === 'success')).toMatchObject({
      labels: { client: 'api' },
      value: 1,
    });
    expect(
      both.some((x) => x.name === 'sync_duration_seconds_count' && x.labels.client === 'api' && x.value === 1),
    ).toBe(true);

    // ---- logs carry no secret
    const logs = a.lines
      .concat(b.lines)
      .map((l) => JSON.stringify(l))
      .join('\n');
    const password = fs.readFileSync(t.hostEnv.OWUI_SYNC_DATABASE_PASSWORD_FILE!, 'utf8').trim();
    const jwtSecret = fs.readFileSync(s.file, 'utf8').trim();
    for (const secret of [password, jwtSecret, token]) expect(logs).not.toContain(secret);
    a.signal('SIGTERM');
    b.signal('SIGTERM');
    expect(await a.exited).toEqual({ code: 0, signal: null });
    expect(await b.exited).toEqual({ code: 0, signal: null });
  }, 120_000);

  it('refuses bad settings at start with a clear message and exit code 2', async () => {
    const t = await setupTenant({ name: 'api_cfg' });
    const dir = tmpDir();
    const s = apiSecret(dir);
    const run = (args: string[], env: Record<string, string> = {}) =>
      runCli(
        ['agent', '--host', t.host, ...args],
        { ...t.hostEnv, OWUI_SYNC_JWT_SECRET_FILE: s.file, ...env },
        { timeoutMs: 15_000 },
      );
    const cases: [string[], Record<string, string>, string][] = [
      [[], { ROLE: 'tertiary' }, 'ROLE is "tertiary"'],
      [[], { LEASE_DURATION: '10', LEASE_RENEW_DEADLINE: '20' }, 'lease timing is unsafe'],
      [[], { LEASE_RETRY_INTERVAL: '17' }, 'lease timing is unsafe'],
      [[], { API_PORT: '70000' }, 'API_PORT'],
      [[], { HEARTBEAT_INTERVAL: 'soon' }, 'HEARTBEAT_INTERVAL'],
      [['--cluster', 'elsewhere'], {}, 'no registered host matches'],
      [[], { OWUI_SYNC_DATABASE_URL: t.hostEnv.OWUI_SYNC_DATABASE_URL!.replace(/:(\d+)\//, ':6543/') }, '6543'],
    ];
    for (const [args, env, expected] of cases) {
      const r = await run(args, env);
      expect(r.code, `${JSON.stringify(env)}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(expected);
      expect(r.stderr).toContain('hint:');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    fs.writeFileSync(path.join(dir, 'short'), 'short');
    const short = await run([], { OWUI_SYNC_JWT_SECRET_FILE: path.join(dir, 'short') });
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('shorter than 32 bytes');
    const check = await run(['--check', '--json', '--role', 'secondary']);
    expect(check.code).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({
      ok: true,
      role: 'secondary',
      cluster_name: t.host,
      api: '127.0.0.1:9444',
      lease_seconds: 30,
      renew_deadline_seconds: 20,
      retry_seconds: 5,
      api_auth: 'configured',
    });
  }, 60_000);
});
