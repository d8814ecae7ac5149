import { describe, expect, it } from 'vitest';
import { validateClientName } from '../src/pg/tenant.ts';
import { copyField } from '../src/sync/sql.ts';
import { normaliseValue, canonicalTargetText } from '../src/sync/normalise.ts';
import { overlapFor } from '../src/sync/engine.ts';
import { parseInterval, formatInterval, resolveSetting } from '../src/util/config.ts';
import { redactText, redactUrl } from '../src/util/redact.ts';
import { pyJson } from '../src/sqlite/sample.ts';

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
    expect(normaliseValue('{"a":"\0"}', 'json')).toMatchObject({ text: null, raw: ['text', Buffer.from('{"a":"\0"}').toString('base64')] });
  });

  it('shows NUL in text as U+FFFD and keeps the exact bytes; flags U+FFFD for a second look', () => {
    expect(normaliseValue('a\0b', 'text')).toEqual({ text: 'a\uFFFDb', raw: ['text', Buffer.from('a\0b').toString('base64')] });
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

describe('names, intervals and settings', () => {
  it('accepts legacy CLIENT_IDs and refuses reserved schemas', () => {
    expect(validateClientName('chat-example-com')).toBe('chat-example-com');
    expect(validateClientName('acme_2')).toBe('acme_2');
    for (const bad of ['public', 'storage', 'realtime', 'vault', 'graphql_public', 'pgsodium_masks', 'supabase_migrations', 'pg_catalog', 'information_schema', 'sync_metadata']) {
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
    expect(redactUrl('postgresql://u:p%40ss@h:5432/db?sslmode=require&password=x')).toBe('postgresql://u:***@h:5432/db?sslmode=require&password=***');
    expect(redactText('failed for postgres://sync:hunter2@db:5432/x')).toBe('failed for postgres://sync:***@db:5432/x');
  });

  it("computes the overlap window in each table's unit", () => {
    expect(overlapFor(1_767_000_000n, 60)).toBe(60n);
    expect(overlapFor(1_767_000_000_000n, 60)).toBe(60_000n);
    expect(overlapFor(1_767_000_000_000_000_000n, 60)).toBe(60_000_000_000n);
  });
});
