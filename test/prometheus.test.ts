import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentProc, api, apiSecret } from './agents.ts';
import { ROOT, setupTenant, tmpDir } from './helpers.ts';

// The monitoring templates, checked with the real Prometheus tools (Debian's prometheus package brings promtool;
// .ci/run installs it). Skipped with a message where promtool is missing.

const HAVE_PROMTOOL = spawnSync('promtool', ['--version']).status === 0;
if (!HAVE_PROMTOOL)
  console.warn('promtool is not installed (apt-get install prometheus): the Prometheus checks are skipped');

const promtool = (args: string[], input?: string) =>
  spawnSync('promtool', args, { cwd: ROOT, input, encoding: 'utf8' });

describe.skipIf(!HAVE_PROMTOOL)('Prometheus: templates/prometheus.yml, templates/alerts.yml, /metrics', () => {
  it('the scrape configuration and the rules are valid, and every alert passes its unit test', () => {
    const c = promtool(['check', 'config', 'templates/prometheus.yml']);
    expect(c.status, c.stdout + c.stderr).toBe(0);
    const r = promtool(['check', 'rules', 'templates/alerts.yml']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('SUCCESS: 7 rules found');
    const t = promtool(['test', 'rules', path.join('test', 'fixtures', 'alerts.test.yml')]);
    expect(t.status, t.stdout + t.stderr).toBe(0);
    // Each alert of the rules file has a test.
    const alerts = [...fs.readFileSync(path.join(ROOT, 'templates', 'alerts.yml'), 'utf8').matchAll(/- alert: (\w+)/g)];
    const tests = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'alerts.test.yml'), 'utf8');
    expect(alerts).toHaveLength(7);
    for (const [, name] of alerts) expect(tests).toContain(`alertname: ${name}`);
  });

  it("a live agent's /metrics passes promtool check metrics without a warning", async () => {
    const tn = await setupTenant({ name: 'prom', seed: { users: 1, chatsPerUser: 2 } });
    const a = await AgentProc.start(tn, { role: 'primary', nodeId: 'prom-a', secretFile: apiSecret(tmpDir()).file });
    await a.until((h) => h.is_leader === true);
    const m = await api(a.url, '/metrics');
    expect(m.text).toContain('owui_sync_conflicts_pending{client="prom"} 0');
    expect(m.text).toContain('owui_sync_deployment_interval_seconds{client="prom"} 300');
    const r = promtool(['check', 'metrics'], m.text);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect((r.stdout + r.stderr).trim()).toBe('');
    a.signal('SIGTERM');
    await a.exited;
  });
});
