import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasDockerd, startSwarmEngine, type TestEngine } from './docker-engine.ts';
import { freshDatabase, runMain, tmpDir } from './helpers.ts';

// A real Docker engine in swarm mode (CI installs docker.io); no stand-in for the secret store.
describe.skipIf(!hasDockerd)('provision --docker-secret (a real Docker engine in swarm mode)', () => {
  let engine: TestEngine;
  let url: string;
  let host: string;
  beforeAll(async () => {
    engine = await startSwarmEngine();
    const db = await freshDatabase();
    url = db.url;
    host = `h-${db.name.slice(2)}`;
    db.roles.push(`sync_service_${host}`);
  }, 120_000);
  afterAll(async () => {
    await engine?.stop();
  });

  const env = () => ({ OWUI_SYNC_ADMIN_URL: url, DOCKER_HOST: engine.dockerHost });

  it('puts the generated password into a swarm secret, never on the screen', async () => {
    const r = await runMain(['provision', '--host', host, '--docker-secret', 'db_sync_password', '--json'], env());
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.host).toMatchObject({
      role: `sync_service_${host}`,
      password: 'created',
      secret: { kind: 'docker', name: 'db_sync_password' },
    });
    const inspect = JSON.parse(engine.docker('secret', 'inspect', 'db_sync_password'))[0];
    expect(inspect.ID).toBe(out.host.secret.id);
    expect(inspect.Spec.Labels['owui-sync.role']).toBe(`sync_service_${host}`);
  });

  it('rotates by replacing the secret; the old password stops working', async () => {
    // Learn the current password by rotating into a file first, then rotate into the secret.
    const file = path.join(tmpDir(), 'pw');
    expect((await runMain(['provision', '--host', host, '--rotate', '--secret-file', file], env())).code).toBe(0);
    const before = JSON.parse(engine.docker('secret', 'inspect', 'db_sync_password'))[0].ID;
    const r = await runMain(
      ['provision', '--host', host, '--rotate', '--docker-secret', 'db_sync_password', '--json'],
      env(),
    );
    expect(r.code, r.stderr).toBe(0);
    const after = JSON.parse(engine.docker('secret', 'inspect', 'db_sync_password'))[0].ID;
    expect(after).not.toBe(before);
    const u = new URL(url);
    u.username = `sync_service_${host}`;
    u.password = (await import('node:fs')).readFileSync(file, 'utf8').trim();
    const old = postgres(u.toString(), { max: 1, onnotice: () => {} });
    await expect(old`select 1`).rejects.toMatchObject({ code: '28P01' });
    await old.end();
  });

  it('refuses to rotate a secret a service uses, changes nothing, and says how to rotate into a new name', async () => {
    // A service that mounts the secret (its image need not exist: the spec is what holds the secret).
    engine.docker(
      'service',
      'create',
      '--detach',
      '--no-resolve-image',
      '--name',
      'openwebui-sync-primary',
      '--secret',
      'db_sync_password',
      'owui-none:latest',
      'true',
    );
    const before = JSON.parse(engine.docker('secret', 'inspect', 'db_sync_password'))[0].ID;
    const r = await runMain(['provision', '--host', host, '--rotate', '--docker-secret', 'db_sync_password'], env());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('in use by a service');
    expect(r.stderr).toContain('--docker-secret db_sync_password_v2');
    expect(JSON.parse(engine.docker('secret', 'inspect', 'db_sync_password'))[0].ID).toBe(before);
    const v2 = await runMain(
      ['provision', '--host', host, '--rotate', '--docker-secret', 'db_sync_password_v2', '--json'],
      env(),
    );
    expect(v2.code, v2.stderr).toBe(0);
    engine.docker('service', 'rm', 'openwebui-sync-primary');
  });

  it('refuses a stale secret for a new role, and explains swarm mode when it is off', async () => {
    engine.docker('secret', 'create', 'stale_secret', '/etc/hostname');
    const r = await runMain(['provision', '--host', `${host}-2`, '--docker-secret', 'stale_secret'], env());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Docker secret stale_secret already exists');
    engine.docker('swarm', 'leave', '--force');
    const off = await runMain(['provision', '--host', `${host}-2`, '--docker-secret', 'x'], env());
    expect(off.code).toBe(2);
    expect(off.stderr).toContain('not in swarm mode');
    expect(off.stderr).toContain('--secret-file');
  });
});
