import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tmpDir } from './helpers.ts';

describe('npm run demo (owui-sync demo)', () => {
  it('runs the whole path on an embedded PostgreSQL and ends with an identical mirror', async () => {
    const dir = path.join(tmpDir(), 'demo');
    const r = await runCli(['demo', '--data-dir', dir, '--json'], {}, { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.verify.identical).toBe(true);
    expect(out.first_sync.kind).toBe('full');
    expect(out.writer.errors).toBe(0);
    expect(out.writer.writes).toBeGreaterThan(0);
    expect(out.live_sync.totals.inserted + out.final_sync.totals.inserted).toBeGreaterThan(0);
    // The default configuration merges chats: the conflict the demo makes is resolved that way.
    expect(out.conflict).toMatchObject({
      table_name: 'chat',
      conflict_type: 'update_conflict',
      resolution_strategy: 'merge',
      winner: 'merged',
    });
    // The generated password lives only in the 0600 file, never in the output.
    const url = new URL(fs.readFileSync(out.admin_url_file, 'utf8').trim());
    expect(decodeURIComponent(url.password).length).toBeGreaterThan(10);
    expect(r.stdout + r.stderr).not.toContain(url.password);
    expect(r.stdout + r.stderr).not.toContain(decodeURIComponent(url.password));
    expect(fs.statSync(out.admin_url_file).mode & 0o777).toBe(0o600);
  }, 150_000);
});
