// The benchmarks' generated tenants (Open WebUI's v0.11 schema, sample.ts's chats).
import fs from 'node:fs';
import { addChat, createTenantDb, type JournalMode, rng, seedTenant } from '../src/sqlite/sample.ts';

/**
 * A tenant of `chats` generated chats (seeded users first), written in transactions of `per` chats; WAL unless
 * `journal` says otherwise.
 */
export function buildTenant(
  file: string,
  o: {
    chats: number;
    users: number;
    messages: number;
    padBytes: number;
    seed: number;
    per: number;
    journal?: JournalMode;
  },
): { chats: number; bytes: number } {
  const db = createTenantDb(file, { journal: o.journal ?? 'wal' });
  db.pragma('synchronous = OFF');
  const seeded = seedTenant(db, { users: o.users, chatsPerUser: 1 });
  const r = rng(o.seed);
  const insert = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++)
      addChat(db, r, {
        userId: seeded.userIds[i % seeded.userIds.length]!,
        messages: o.messages,
        padBytes: o.padBytes,
        at: 1_700_000_000 + i,
      });
  });
  for (let i = 0; i < o.chats; i += o.per) insert(i, Math.min(o.chats, i + o.per));
  db.close();
  return { chats: o.chats, bytes: fs.statSync(file).size };
}

/** Many small rows: chats with 9 messages each (10 rows a chat), about 2.3 KB a row on disk. */
export const buildManyRows = (file: string, rows: number) =>
  buildTenant(file, { chats: Math.ceil(rows / 10), users: 50, messages: 9, padBytes: 3_000, seed: 5, per: 500 });

/**
 * Large chats (~100 KB of chat JSON and as much in its chat_message copies): about 310 KB of file per chat, so
 * 1,600 MB is about 5,400 chats.
 */
export const buildLarge = (file: string, sizeMb: number) =>
  buildTenant(file, {
    chats: Math.ceil((sizeMb * 1024 * 1024) / 310_000),
    users: 20,
    messages: 8,
    padBytes: 100_000,
    seed: 99,
    per: 200,
  });
