// npm run bench:menu [-- --runs 10]
// Time from typing `owui-sync` on a terminal to the menu's first drawn screen, in a real terminal (tmux, 80x24),
// against an embedded PostgreSQL with a provisioned host and a registered tenant. Two marks per run:
//  - the first screen: the "Main menu" title and its key line are on the terminal;
//  - the header read: the agents' state is drawn (here: none answers, "NO LEADER");
// and, in the same run, interleaved, the baseline: `node -e "console.log('READY')"` until READY shows in the same
// terminal (the cost of starting Node and of the polling itself). The terminal is polled every 5 ms.
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { clientAdd } from '../src/ops/clients.ts';
import { provision } from '../src/ops/provision.ts';
import { startEmbedded } from '../src/pg/embedded.ts';
import { createTenantDb, seedTenant } from '../src/sqlite/sample.ts';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const RUNS = Number(args.runs);
const BIN = new URL('../bin/owui-sync.js', import.meta.url).pathname;
if (spawnSync('tmux', ['-V']).status !== 0) {
  console.error('bench:menu needs tmux (apt-get install tmux)');
  process.exit(2);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'owui-bench-menu-'));
fs.chmodSync(dir, 0o755);
const pg = await startEmbedded({ dataDir: path.join(dir, 'pg') });
const socket = `owui-bench-${crypto.randomBytes(4).toString('hex')}`;
const tmux = (a: string[]) => execFileSync('tmux', ['-L', socket, ...a], { encoding: 'utf8' });
try {
  const secretFile = path.join(dir, 'db_sync_password');
  const p = await provision({ adminUrl: pg.url, host: 'bench-host', secretFile });
  const file = path.join(dir, 'webui.db');
  const db = createTenantDb(file);
  seedTenant(db, { users: 3, chatsPerUser: 10 });
  db.close();
  await clientAdd({ name: 'bench-tenant', sqlitePath: file, adminUrl: pg.url, host: 'bench-host' });
  const u = new URL(pg.url);
  u.username = p.host!.role;
  u.password = '';
  const env = `env -i PATH=${JSON.stringify(process.env.PATH)} HOME=${JSON.stringify(os.homedir())} TERM=tmux-256color OWUI_SYNC_CONFIG= OWUI_SYNC_DATABASE_URL=${JSON.stringify(u.toString())} OWUI_SYNC_DATABASE_PASSWORD_FILE=${secretFile} OWUI_SYNC_NODES_FILE=`;
  tmux(['new-session', '-d', '-x', '80', '-y', '24', 'sleep 36000']);

  /** Run a command in a fresh window; ms until the screen satisfies `done`; then the window is closed. */
  const measure = (cmd: string, done: (screen: string) => boolean): number => {
    const t0 = performance.now();
    const win = tmux(['new-window', '-P', '-F', '#{window_id}', `${cmd}; sleep 3600`]).trim();
    for (;;) {
      const s = tmux(['capture-pane', '-p', '-t', win]);
      if (done(s)) {
        const ms = performance.now() - t0;
        tmux(['kill-window', '-t', win]);
        return ms;
      }
      if (performance.now() - t0 > 30_000) throw new Error(`no screen within 30 s:\n${s}`);
      spawnSync('sleep', ['0.005']);
    }
  };
  const first: number[] = [];
  const header: number[] = [];
  const base: number[] = [];
  measure(`${env} node ${BIN}`, (s) => s.includes('NO LEADER')); // warm the file cache
  for (let i = 0; i < RUNS; i++) {
    base.push(measure(`${env} node -e "console.log('READY')"`, (s) => s.includes('READY')));
    let firstAt = 0;
    const t0 = performance.now();
    header.push(
      measure(`${env} node ${BIN}`, (s) => {
        if (!firstAt && s.includes('Main menu') && s.includes('q quit')) firstAt = performance.now() - t0;
        return s.includes('NO LEADER');
      }),
    );
    first.push(firstAt);
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(
    `Menu start-up, ${RUNS} runs, interleaved with the baseline; tmux 80x24, polled every 5 ms; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}; embedded PostgreSQL 17 on loopback, one host, one tenant, no agent running`,
  );
  console.log(`  baseline: node -e "console.log('READY')" to READY on the terminal: median ${med(base).toFixed(0)} ms`);
  console.log(
    `  owui-sync to its first screen (the main menu and its key line):   median ${med(first).toFixed(0)} ms (${(med(first) / med(base)).toFixed(2)}x the baseline)`,
  );
  console.log(
    `  owui-sync to the header read (both nodes asked, the lease read): median ${med(header).toFixed(0)} ms (${(med(header) / med(base)).toFixed(2)}x the baseline)`,
  );
} finally {
  spawnSync('tmux', ['-L', socket, 'kill-server']);
  await pg.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
