import crypto from 'node:crypto';
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { codePath } from '../util/paths.ts';
import { openWebUISchemaSql } from './introspect.ts';

export type { JournalMode } from './source.ts';

import type { JournalMode } from './source.ts';

/**
 * Sample Open WebUI tenants for the demo, the tests and the benchmarks. Rows are written the way
 * Open WebUI writes them (Python json.dumps with ensure_ascii, epoch seconds, nanoseconds for
 * notes, the chat JSON with its message tree and the dual-written chat_message rows), through a
 * normal read-write connection, as a second process would.
 */

export type SchemaStyle = 'v0.11' | 'v0.6';

const LEGACY_SQL = codePath('sqlite', 'openwebui-v0.6-legacy.sql');

/** Create an empty tenant database with Open WebUI's schema, in the given journal mode. */
export function createTenantDb(
  path: string,
  opts: { style?: SchemaStyle; journal?: JournalMode } = {},
): Database.Database {
  fs.rmSync(path, { force: true });
  for (const s of ['-wal', '-shm', '-journal']) fs.rmSync(path + s, { force: true });
  const db = new Database(path);
  db.pragma(`journal_mode = ${opts.journal === 'rollback' ? 'DELETE' : 'WAL'}`);
  db.pragma('busy_timeout = 5000');
  // Open WebUI never turns foreign keys on (better-sqlite3 does by default): orphans are normal data.
  db.pragma('foreign_keys = OFF');
  if ((opts.style ?? 'v0.11') === 'v0.11') {
    db.exec(openWebUISchemaSql());
    db.prepare('INSERT INTO alembic_version VALUES (?)').run('f0bd01a18a3d');
  } else {
    db.exec(fs.readFileSync(LEGACY_SQL, 'utf8'));
    db.prepare('INSERT INTO alembic_version VALUES (?)').run('3e0e00844bb0');
    db.prepare(
      "INSERT INTO migratehistory (name, migrated_at) VALUES ('001_initial_schema', '2024-05-01 10:00:00')",
    ).run();
  }
  return db;
}

/** Python's json.dumps(value) with its defaults: ", " and ": " separators, non-ASCII as \uXXXX. */
export function pyJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return asciiString(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  return (
    '{' +
    Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${asciiString(k)}: ${pyJson(v)}`)
      .join(', ') +
    '}'
  );
}

function asciiString(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A small deterministic PRNG, so a seed always builds the same tenant. */
export function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!,
    uuid: () => {
      const b = Buffer.alloc(16);
      for (let i = 0; i < 16; i++) b[i] = Math.floor(next() * 256);
      b[6] = (b[6]! & 0x0f) | 0x40;
      b[8] = (b[8]! & 0x3f) | 0x80;
      const h = b.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    },
  };
}
type Rng = ReturnType<typeof rng>;

const WORDS = [
  'the',
  'model',
  'answer',
  'question',
  'data',
  'tenant',
  'sync',
  'chat',
  'why',
  'how',
  'token',
  'stream',
  'vector',
  'prompt',
  'café',
  'naïve',
  'résumé',
  '日本語',
  'emoji 🎉',
  'rocket 🚀',
  'family 👨‍👩‍👧',
];
const sentence = (r: Rng, n: number) => Array.from({ length: n }, () => r.pick(WORDS)).join(' ');

export interface ChatSpec {
  id?: string;
  userId: string;
  title?: string;
  messages?: number;
  /** Seconds since the epoch for created_at / updated_at (imports keep old ones). */
  at?: number;
  /** Approximate size of the chat JSON: pads assistant messages (a multi-megabyte chat). */
  padBytes?: number;
  /** Add a second branch (an edited user message) to the message tree. */
  branch?: boolean;
  folderId?: string | null;
}

/**
 * Write one chat as Open WebUI does: the chat row with the whole conversation in chat.chat
 * (history.messages tree, currentId, linear messages list), and the chat_message copies.
 */
export function addChat(db: Database.Database, r: Rng, spec: ChatSpec): string {
  const id = spec.id ?? r.uuid();
  const at = spec.at ?? Math.floor(Date.now() / 1000);
  const n = spec.messages ?? 4;
  const messages: Record<string, Record<string, unknown>> = {};
  const linear: Record<string, unknown>[] = [];
  let parent: string | null = null;
  const pad = spec.padBytes ? Math.ceil(spec.padBytes / Math.max(1, Math.floor(n / 2))) : 0;
  for (let i = 0; i < n; i++) {
    const mid = r.uuid();
    const role = i % 2 === 0 ? 'user' : 'assistant';
    const content = role === 'assistant' && pad ? `${sentence(r, 8)} ${'x'.repeat(pad)}` : sentence(r, 3 + r.int(12));
    const m: Record<string, unknown> = { id: mid, parentId: parent, childrenIds: [], role, content, timestamp: at + i };
    if (role === 'assistant')
      Object.assign(m, {
        model: 'llama3:8b',
        modelName: 'Llama 3',
        done: true,
        usage: { prompt_tokens: 10 + i, completion_tokens: 20 + i },
      });
    else m.models = ['llama3:8b'];
    if (parent) (messages[parent]!.childrenIds as string[]).push(mid);
    messages[mid] = m;
    linear.push(m);
    parent = mid;
  }
  if (spec.branch && n >= 2) {
    const first = linear[0]!;
    const alt = {
      id: r.uuid(),
      parentId: null,
      childrenIds: [],
      role: 'user',
      content: `edited: ${first.content as string}`,
      timestamp: at,
    };
    messages[alt.id] = alt;
  }
  const title = spec.title ?? sentence(r, 3);
  const chat = {
    id: '',
    title,
    models: ['llama3:8b'],
    params: {},
    history: { messages, currentId: parent },
    messages: linear,
    tags: [],
    timestamp: at * 1000,
  };
  db.prepare(
    `INSERT INTO chat (id, user_id, title, created_at, updated_at, share_id, archived, chat, pinned, meta, folder_id)
     VALUES (?, ?, ?, ?, ?, NULL, 0, ?, 0, ?, ?)`,
  ).run(id, spec.userId, title, at, at, pyJson(chat), pyJson({ tags: [] }), spec.folderId ?? null);
  const hasMessages =
    (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'chat_message'").get() as { n: number }).n > 0;
  if (hasMessages) {
    const ins = db.prepare(
      `INSERT INTO chat_message (id, chat_id, user_id, role, parent_id, content, model_id, done, usage, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const m of linear) {
      ins.run(
        `${id}-${m.id}`,
        id,
        spec.userId,
        m.role,
        m.parentId,
        pyJson(m.content),
        m.role === 'assistant' ? 'llama3:8b' : null,
        m.role === 'assistant' ? 1 : null,
        m.usage ? pyJson(m.usage) : null,
        m.timestamp,
        at,
      );
    }
  }
  return id;
}

export interface SeedOptions {
  users?: number;
  chatsPerUser?: number;
  messagesPerChat?: number;
  seed?: number;
  /** Add the hard cases: NUL bytes, lone surrogates, invalid UTF-8, 'null' vs NULL, numeric JSON, ... */
  adversarial?: boolean;
  /** Add one chat of about this many bytes. */
  bigChatBytes?: number;
  style?: SchemaStyle;
}

export interface SeedResult {
  userIds: string[];
  chatIds: string[];
}

const NOW_S = 1_767_000_000; // fixed "now" for reproducible fixtures (2025-12-29)

/** Fill a tenant created by createTenantDb with realistic rows. */
export function seedTenant(db: Database.Database, opts: SeedOptions = {}): SeedResult {
  const r = rng(opts.seed ?? 1);
  const style = opts.style ?? 'v0.11';
  const users = opts.users ?? 3;
  const out: SeedResult = { userIds: [], chatIds: [] };
  const tx = db.transaction(() => {
    for (let u = 0; u < users; u++) {
      const id = r.uuid();
      out.userIds.push(id);
      const at = NOW_S - 86400 * (30 - u);
      if (style === 'v0.11') {
        db.prepare(
          `INSERT INTO user (id, name, email, role, profile_image_url, last_active_at, updated_at, created_at, settings, info, oauth)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
        ).run(
          id,
          `User ${u} ${r.pick(['Zoë', 'Renée', 'José', 'Björk'])}`,
          `user${u}@example.com`,
          u === 0 ? 'admin' : 'user',
          '/user.png',
          at,
          at,
          at,
          pyJson({ ui: { theme: 'dark' } }),
          u === 1 ? 'null' : null,
        );
        db.prepare('INSERT INTO auth (id, email, password, active) VALUES (?, ?, ?, 1)').run(
          id,
          `user${u}@example.com`,
          `$2b$12$${crypto.createHash('sha1').update(id).digest('hex')}`,
        );
      } else {
        db.prepare(
          `INSERT INTO "user" (id, name, email, role, profile_image_url, last_active_at, updated_at, created_at, settings, info)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(id, `User ${u}`, `user${u}@example.com`, 'user', '/user.png', at, at, at, pyJson({ ui: {} }), 'null');
        db.prepare('INSERT INTO auth (id, email, password, active) VALUES (?, ?, ?, 1)').run(
          id,
          `user${u}@example.com`,
          'hash',
        );
      }
      for (let c = 0; c < (opts.chatsPerUser ?? 5); c++) {
        out.chatIds.push(
          addChat(db, r, { userId: id, messages: opts.messagesPerChat ?? 4, at: at + c * 60, branch: c % 3 === 0 }),
        );
      }
      // Tags: composite key (id, user_id); the same tag id for every user.
      db.prepare('INSERT INTO tag (id, name, user_id, meta) VALUES (?, ?, ?, ?)').run('work', 'Work', id, pyJson({}));
      db.prepare(
        'INSERT INTO folder (id, parent_id, user_id, name, items, meta, is_expanded, created_at, updated_at) VALUES (?, NULL, ?, ?, NULL, NULL, 1, ?, ?)',
      ).run('f-shared', id, 'Projects', at, at);
    }
    db.prepare(
      `INSERT INTO "group" (id, user_id, name, description, data, meta, permissions, created_at, updated_at) VALUES (?, ?, 'admins', 'the "group" table is a reserved word', NULL, NULL, ?, ?, ?)`,
    ).run(r.uuid(), out.userIds[0], pyJson({ workspace: { models: true } }), NOW_S, NOW_S);
    if (opts.bigChatBytes)
      out.chatIds.push(
        addChat(db, r, {
          userId: out.userIds[0]!,
          messages: 40,
          padBytes: opts.bigChatBytes,
          at: NOW_S - 100,
          title: 'a very long chat',
        }),
      );
    if (style === 'v0.11') {
      // Notes keep nanoseconds: above 2^53, exact only as 64-bit integers.
      const ns = BigInt(NOW_S) * 1_000_000_000n + 123_456_789n;
      db.prepare(
        'INSERT INTO note (id, user_id, title, data, meta, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ).run('note-ns', out.userIds[0], 'nanoseconds', pyJson({ content: { md: '# hi' } }), null, ns, ns + 1n);
      // config: one row per key; SQLite's NUMERIC affinity turns numeric-looking JSON into numbers.
      const cfg = db.prepare('INSERT INTO config ("key", value, updated_at) VALUES (?, ?, ?)');
      cfg.run('rag.top_k', '5', NOW_S);
      cfg.run('rag.relevance_threshold', '1.50', NOW_S);
      cfg.run('big.number', '12345678901234567890', NOW_S);
      cfg.run('ui.enable_signup', 'true', null);
      cfg.run('ui.name', pyJson('Open WebUI ✨'), NOW_S);
      db.prepare(
        "INSERT INTO config_old (id, data, version, created_at, updated_at) VALUES (1, ?, 0, '2025-01-02 03:04:05', '2025-01-02 03:04:05')",
      ).run(pyJson({ version: 0, ui: {} }));
      db.prepare(
        'INSERT INTO model (id, user_id, base_model_id, name, params, meta, updated_at, created_at, is_active) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)',
      ).run(
        'llama3:8b-custom',
        out.userIds[0],
        'llama3:8b',
        'Custom',
        'null',
        pyJson({ description: null }),
        NOW_S,
        NOW_S,
      );
      db.prepare(
        'INSERT INTO access_grant (id, resource_type, resource_id, principal_type, principal_id, permission, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ).run(r.uuid(), 'model', 'llama3:8b-custom', 'user', '*', 'read', NOW_S);
    }
    if (opts.adversarial) addAdversarial(db, out, style);
  });
  tx();
  return out;
}

function addAdversarial(db: Database.Database, out: SeedResult, style: SchemaStyle) {
  const u = out.userIds[0]!;
  // Raw NUL bytes in TEXT columns; escaped \u0000 and lone surrogate escapes inside JSON text.
  db.prepare('INSERT INTO memory (id, user_id, content, updated_at, created_at) VALUES (?, ?, ?, ?, ?)').run(
    'mem-nul',
    u,
    'before\0after',
    NOW_S,
    NOW_S,
  );
  db.prepare(
    'INSERT INTO chat (id, user_id, title, created_at, updated_at, archived, chat, meta) VALUES (?, ?, ?, ?, ?, 0, ?, ?)',
  ).run(
    'chat-escapes',
    u,
    'escapes \u{1F600}',
    NOW_S,
    NOW_S,
    '{"title": "nul \\u0000 here", "lone": "\\ud83d", "pair": "\\ud83d\\ude00", "messages": []}',
    '{}',
  );
  // 'null' JSON text versus SQL NULL in the same column.
  db.prepare(
    'INSERT INTO chat (id, user_id, title, created_at, updated_at, archived, chat, meta) VALUES (?, ?, ?, ?, ?, 0, ?, ?)',
  ).run('chat-jsonnull', u, 'json null', NOW_S, NOW_S, 'null', '{}');
  db.prepare(
    'INSERT INTO chat (id, user_id, title, created_at, updated_at, archived, chat, meta) VALUES (?, ?, ?, ?, ?, 0, NULL, ?)',
  ).run('chat-sqlnull', u, 'sql null', NOW_S, NOW_S, '{}');
  // Bytes that are not UTF-8 in a TEXT column, and a raw NUL inside a JSON column (invalid JSON).
  db.prepare(
    "INSERT INTO file (id, user_id, filename, meta, created_at, updated_at) VALUES ('file-badutf8', ?, CAST(x'6361666580ff2e747874' AS TEXT), ?, ?, ?)",
  ).run(u, pyJson({ name: 'x' }), NOW_S, NOW_S);
  db.prepare(
    "INSERT INTO file (id, user_id, filename, meta, created_at, updated_at) VALUES ('file-nuljson', ?, 'nul.txt', ?, ?, ?)",
  ).run(u, '{"name": "a\0b"}', NOW_S, NOW_S);
  // A REAL where Open WebUI declares BIGINT, and a boolean column holding 2.
  db.prepare('INSERT INTO memory (id, user_id, content, updated_at, created_at) VALUES (?, ?, ?, ?, ?)').run(
    'mem-real',
    u,
    'real timestamp',
    NOW_S,
    1.5,
  );
  db.prepare("INSERT INTO auth (id, email, password, active) VALUES ('auth-two', 'two@example.com', 'x', 2)").run();
  // Newlines, tabs and backslashes (COPY escapes), and very long lines.
  db.prepare('INSERT INTO memory (id, user_id, content, updated_at, created_at) VALUES (?, ?, ?, ?, ?)').run(
    'mem-escapes',
    u,
    'tab\there\nnewline\r\nback\\slash \\N not null',
    NOW_S,
    NOW_S,
  );
  if (style === 'v0.11') {
    // Keys that need quoting in PostgreSQL, and a table with a composite primary key.
    db.prepare('INSERT INTO tag (id, name, user_id, meta) VALUES (?, ?, ?, ?)').run(
      'café_ünïcode',
      'Café Ünïcode',
      u,
      pyJson({ color: '#fff' }),
    );
  }
}

/** Open WebUI's update_chat_title_by_id: changes the title (and chat.title) without bumping updated_at. */
export function retitleWithoutBump(db: Database.Database, chatId: string, title: string): void {
  const row = db.prepare('SELECT chat FROM chat WHERE id = ?').get(chatId) as { chat: string };
  const chat = JSON.parse(row.chat) as Record<string, unknown>;
  chat.title = title;
  db.prepare('UPDATE chat SET title = ?, chat = ? WHERE id = ?').run(title, pyJson(chat), chatId);
}

/** Open WebUI's delete_chat_by_id: chat_message rows, then the chat, hard-deleted. */
export function hardDeleteChat(db: Database.Database, chatId: string): void {
  db.transaction(() => {
    const hasMessages =
      (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'chat_message'").get() as { n: number }).n > 0;
    if (hasMessages) db.prepare('DELETE FROM chat_message WHERE chat_id = ?').run(chatId);
    db.prepare('DELETE FROM chat WHERE id = ?').run(chatId);
  })();
}
