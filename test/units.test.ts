import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TablePlan } from '../src/model/plan.ts';
import { canonicalTargetText, lightHash, normaliseValue, type RawEntry, rowHash } from '../src/model/values.ts';
import { describeChanges } from '../src/ops/provision.ts';
import { connect, isTransientPgError, sslFor } from '../src/pg/connect.ts';
import { validateClientName } from '../src/pg/tenant.ts';
import { pyJson } from '../src/sqlite/sample.ts';
import { copyField } from '../src/sync/sql.ts';
import { formatInterval, parseInterval, resolveSetting, withPasswordFile } from '../src/util/config.ts';
import { freePort } from '../src/util/net.ts';
import { redactText, redactUrl } from '../src/util/redact.ts';
import { retry } from '../src/util/retry.ts';

describe('values', () => {
  it('keeps 64-bit integers exact in bigint columns, and moves what does not fit to the raw form', () => {
    expect(normaliseValue(2n ** 63n - 1n, 'bigint')).toEqual({ text: '9223372036854775807' });
    expect(normaliseValue(-(2n ** 63n), 'bigint')).toEqual({ text: '-9223372036854775808' });
    expect(normaliseValue(1.5, 'bigint')).toEqual({ text: null, raw: ['real', Buffer.from('1.5').toString('base64')] });
    expect(normaliseValue('12a', 'bigint').raw?.[0]).toBe('text');
    expect(normaliseValue('42', 'bigint')).toEqual({ text: '42' });
  });

  it('maps SQLite 0/1 to booleans and nothing else', () => {
    expect(normaliseValue(1n, 'boolean')).toEqual({ text: 'true' });
    expect(normaliseValue(0n, 'boolean')).toEqual({ text: 'false' });
    expect(normaliseValue(2n, 'boolean').raw?.[0]).toBe('integer');
    expect(normaliseValue('true', 'boolean').raw?.[0]).toBe('text');
  });

  it('re-serialises numeric-affinity JSON exactly and keeps JSON text as written', () => {
    expect(normaliseValue(5n, 'json')).toEqual({ text: '5' });
    expect(normaliseValue(1.5, 'json')).toEqual({ text: '1.5' });
    expect(normaliseValue('null', 'json')).toEqual({ text: 'null' });
    expect(normaliseValue(null, 'json')).toEqual({ text: null });
    expect(normaliseValue('{"a": "\\u0000"}', 'json')).toEqual({ text: '{"a": "\\u0000"}' });
    expect(normaliseValue('{"a":"\0"}', 'json')).toMatchObject({
      text: null,
      raw: ['text', Buffer.from('{"a":"\0"}').toString('base64')],
    });
  });

  it('shows NUL in text as U+FFFD and keeps the exact bytes; flags U+FFFD for a second look', () => {
    expect(normaliseValue('a\0b', 'text')).toEqual({
      text: 'a\uFFFDb',
      raw: ['text', Buffer.from('a\0b').toString('base64')],
    });
    expect(normaliseValue('ok \uFFFD', 'text')).toEqual({ text: 'ok \uFFFD', suspect: true });
    expect(normaliseValue(Buffer.from([1, 2]), 'text').raw).toEqual(['blob', 'AQI=']);
  });

  it('only passes dates and timestamps that PostgreSQL prints back unchanged', () => {
    expect(normaliseValue('2025-01-02 03:04:05', 'timestamp')).toEqual({ text: '2025-01-02 03:04:05' });
    expect(normaliseValue('2025-01-02 03:04:05.120', 'timestamp').raw).toBeDefined();
    expect(normaliseValue('2025-01-02T03:04:05Z', 'timestamp').raw).toBeDefined();
    expect(normaliseValue('1990-05-17', 'date')).toEqual({ text: '1990-05-17' });
    expect(normaliseValue(1767000000n, 'date').raw?.[0]).toBe('integer');
    expect(canonicalTargetText('1.5e-07', 'double precision')).toBe(String(1.5e-7));
  });

  it('escapes COPY text fields', () => {
    expect(copyField(null)).toBe('\\N');
    expect(copyField('\\N')).toBe('\\\\N');
    expect(copyField('a\tb\nc\rd\\e')).toBe('a\\tb\\nc\\rd\\\\e');
    expect(copyField('plain')).toBe('plain');
  });

  it("writes JSON the way Python's json.dumps does for the fixtures", () => {
    expect(pyJson({ a: [1, 'é', null], b: { c: true } })).toBe('{"a": [1, "\\u00e9", null], "b": {"c": true}}');
  });
});

describe("a row's hashes", () => {
  // Every mirror row keeps its hashes (_sync_hash, _sync_light): a change here would make the next run of every
  // tenant write every row again. These are the hashes of the definition the mirrors hold.
  const col = (name: string, pgType: TablePlan['columns'][number]['pgType']) => ({ name, declared: '', pgType });
  const plan: TablePlan = {
    name: 'chat',
    key: ['id'],
    keySource: 'primary',
    hasUpdatedAt: true,
    updatedAtIndexed: false,
    hasRowid: true,
    large: ['chat'],
    columns: [
      col('id', 'text'),
      col('title', 'text'),
      col('chat', 'json'),
      col('updated_at', 'bigint'),
      col('archived', 'boolean'),
    ],
  };
  const big = JSON.stringify({ m: 'ünï 🙂 '.repeat(500) });
  it.each([
    [
      'small values',
      ['a1', 'Hello', '{"x":1}', '1700000000', 'false'],
      null,
      [7n],
      'CFTA6yLbBN7xgs0JSvCeJ2FdKRQ',
      'jOCih0_8QizKucBT0oxrGJ20Y9I',
    ],
    [
      'a large value and NULLs',
      ['a2', null, big, null, 'true'],
      null,
      [BigInt(Buffer.byteLength(big))],
      'oicx-1ZeKVEmHp0AWgJZNx_TIiE',
      'gbH-7W0vKHxVCYyAXRoD30YSJ4I',
    ],
    [
      'a raw value',
      ['a3', 'a\uFFFDb', null, '5', 'false'],
      { title: ['text', 'YQBi'] as RawEntry },
      [null],
      'eVmkauio_fePwwkdu4B0TojNBXU',
      'xHyZkVJKrLMTHJyz1sJRFydk1Y4',
    ],
  ])('stay what the mirrors hold: %s', (_, values, raw, lengths, hash, light) => {
    expect(rowHash(plan, values, raw)).toBe(hash);
    expect(lightHash(plan, values, raw, lengths)).toBe(light);
  });
});

describe('what provision reports when it adopts a legacy schema', () => {
  it('names the role change, the replaced policies, the added columns and the kept rows', () => {
    const before = {
      rows: new Map([['hosts', 2]]),
      columns: new Set(['hosts.host_id']),
      tables: new Set(['hosts']),
      policies: ['hosts.sync_host_isolation'],
      groupCanLogin: true,
    };
    const after = {
      rows: new Map([['hosts', 2]]),
      columns: new Set(['hosts.host_id', 'hosts.role_name']),
      tables: new Set(['hosts', 'table_checkpoints']),
      policies: ['hosts.own_host'],
      groupCanLogin: false,
    };
    const c = describeChanges(before, after);
    expect(c).toContain('added table_checkpoints');
    expect(c).toContain('added columns hosts.role_name');
    expect(c.join('\n')).toContain('role sync_service can no longer log in');
    expect(c.join('\n')).toContain('(hosts.sync_host_isolation)');
    expect(c).toContain('kept all 2 rows of hosts');
    expect(describeChanges(before, { ...after, rows: new Map([['hosts', 1]]) })).toContain(
      'ROW COUNT CHANGED in hosts: 2 before, 1 after',
    );
  });
});

describe('names, intervals and settings', () => {
  it('accepts legacy CLIENT_IDs and refuses reserved schemas', () => {
    expect(validateClientName('chat-example-com')).toBe('chat-example-com');
    expect(validateClientName('acme_2')).toBe('acme_2');
    for (const bad of [
      'public',
      'storage',
      'realtime',
      'vault',
      'graphql_public',
      'pgsodium_masks',
      'supabase_migrations',
      'pg_catalog',
      'information_schema',
      'sync_metadata',
    ]) {
      expect(() => validateClientName(bad), bad).toThrow(/reserved/);
    }
    expect(() => validateClientName('Robert"); DROP SCHEMA x; --')).toThrow(/invalid client name/);
  });

  it('parses the legacy intervals and the short forms', () => {
    expect([60, 300, 3600, 14400, 86400].map(String).map(parseInterval)).toEqual([60, 300, 3600, 14400, 86400]);
    expect(['1m', '5m', '1h', '4h', '1d'].map(parseInterval)).toEqual([60, 300, 3600, 14400, 86400]);
    expect(() => parseInterval('10s')).toThrow(/out of range/);
    expect(() => parseInterval('soon')).toThrow(/invalid interval/);
    expect(formatInterval(14400)).toBe('4h');
  });

  it('takes a flag first, then the variable, then the file named by X_FILE', () => {
    expect(resolveSetting('X', 'flag', { X: 'env' })).toBe('flag');
    expect(resolveSetting('X', undefined, { X: 'env', X_FILE: '/nope' })).toBe('env');
    expect(() => resolveSetting('X', undefined, { X_FILE: '/nope' })).toThrow(/cannot read X_FILE/);
  });

  it('redacts passwords from URLs and free text', () => {
    expect(redactUrl('postgresql://u:p%40ss@h:5432/db?sslmode=require&password=x')).toBe(
      'postgresql://u:***@h:5432/db?sslmode=require&password=***',
    );
    expect(redactText('failed for postgres://sync:hunter2@db:5432/x')).toBe('failed for postgres://sync:***@db:5432/x');
  });

  it('requires TLS for any host not on this machine, unless the URL says otherwise', () => {
    expect(sslFor(new URL('postgresql://u@127.0.0.1:5432/db'))).toBe(false);
    expect(sslFor(new URL('postgresql://u@localhost/db'))).toBe(false);
    expect(sslFor(new URL('postgresql://u@[::1]/db'))).toBe(false);
    expect(
      sslFor(new URL('postgresql://sync_service_h.abcdefgh@aws-1-us-east-2.pooler.supabase.com:5432/postgres')),
    ).toBe('require');
    expect(sslFor(new URL('postgresql://u@db.abcdefgh.supabase.co:5432/postgres'))).toBe('require');
    expect(sslFor(new URL('postgresql://u@10.0.0.5/db?sslmode=disable'))).toBeUndefined();
  });

  it('reads the password from OWUI_SYNC_DATABASE_PASSWORD_FILE when the URL has none, and keeps one that is there', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-'));
    const file = path.join(dir, 'pw');
    fs.writeFileSync(file, 'p@ss/word\n');
    const u = new URL(
      withPasswordFile('postgresql://sync_service_h.ref@pooler.example.com:5432/postgres', {
        OWUI_SYNC_DATABASE_PASSWORD_FILE: file,
      }),
    );
    expect(decodeURIComponent(u.password)).toBe('p@ss/word');
    expect(decodeURIComponent(u.username)).toBe('sync_service_h.ref');
    expect(withPasswordFile('postgresql://u:given@h/db', { OWUI_SYNC_DATABASE_PASSWORD_FILE: file })).toBe(
      'postgresql://u:given@h/db',
    );
    expect(() =>
      withPasswordFile('postgresql://u@h/db', { OWUI_SYNC_DATABASE_PASSWORD_FILE: path.join(dir, 'missing') }),
    ).toThrow(/cannot read OWUI_SYNC_DATABASE_PASSWORD_FILE/);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('agent logs', () => {
  const capture = () => {
    let text = '';
    const write = (s: string) => {
      text += s;
      return true;
    };
    return { out: { write } as unknown as NodeJS.WritableStream, text: () => text };
  };
  it('are JSON lines by default and readable lines when asked, with secrets kept out of both', async () => {
    const { createLogger } = await import('../src/util/log.ts');
    for (const format of ['json', 'pretty'] as const) {
      const c = capture();
      const log = createLogger({ name: 'owui-sync', format, out: c.out, base: { node_id: 'n1' } });
      log.warn(
        {
          password: 'hunter2hunter2',
          err: 'connect postgresql://sync:s3cr3t-pw@db.example.com:5432/postgres failed',
          client: 'acme',
        },
        'sync failed',
      );
      await new Promise((r) => setImmediate(r));
      const out = c.text();
      expect(out).not.toContain('hunter2hunter2');
      expect(out).not.toContain('s3cr3t-pw');
      if (format === 'json') {
        const line = JSON.parse(out.trim()) as Record<string, unknown>;
        expect(line).toMatchObject({
          level: 40,
          msg: 'sync failed',
          node_id: 'n1',
          client: 'acme',
          password: '[redacted]',
        });
      } else {
        expect(out).toMatch(/^\d\d:\d\d:\d\d WARN {2}sync failed {2}.*client=acme/);
      }
    }
  });
});

describe('retry', () => {
  it('stops waiting at once when aborted, and throws the error it was retrying', async () => {
    const ac = new AbortController();
    const transient = Object.assign(new Error('connection lost'), { code: 'ECONNRESET' });
    let attempts = 0;
    const t0 = performance.now();
    setTimeout(() => ac.abort(), 50);
    const outcome = retry(
      async () => {
        attempts++;
        throw transient;
      },
      { isTransient: () => true, baseMs: 60_000, capMs: 60_000, attempts: 5, signal: ac.signal },
    );
    // Full jitter may draw a short first wait; the abort must end whichever wait comes next.
    await expect(outcome).rejects.toBe(transient);
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(attempts).toBeLessThan(5);
  });

  it('retries work whose connection ended, the server ending it included, and nothing caused by the data', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    // 25P03: the session ended for idling in its transaction (a paused node); 57P05: an idle session; 57P01: an
    // administrator's shutdown or pg_terminate_backend; then the driver's own codes for a lost socket.
    for (const c of ['25P03', '57P05', '57P01', '40001', '40P01', 'CONNECTION_CLOSED', 'ECONNRESET'])
      expect(isTransientPgError(err(c)), c).toBe(true);
    for (const c of ['23505', '22P02', '42501', '42P01', '25P02']) expect(isTransientPgError(err(c)), c).toBe(false);
  });

  it('answers every query with the refusal within 1.5 s while PostgreSQL is down, however many failed before', async () => {
    // A port nothing listens on: each connection attempt is refused. postgres.js's own delay between attempts
    // grows to 20 s, and a query waits it out before it tries (the menu showed "loading…" instead of the error).
    const sql = connect(`postgres://u:p@127.0.0.1:${await freePort()}/db`, { what: 'test', max: 3 });
    try {
      const waits: number[] = [];
      for (let i = 0; i < 12; i++) {
        const t0 = performance.now();
        await expect(sql`select 1`).rejects.toMatchObject({ code: 'ECONNREFUSED' });
        waits.push(Math.round(performance.now() - t0));
      }
      expect(Math.max(...waits), waits.join(' ')).toBeLessThan(1500);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});
