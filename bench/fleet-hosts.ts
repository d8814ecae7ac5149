// One process of simulated hosts for bench/fleet.ts: for each host named in the plan, its pair of agents (the
// real Agent class of the tree at ROOT: its connections, lease, scheduler, claims and syncs), without their HTTP
// APIs. Run with tsx; argv: ROOT PLAN_FILE. Prints one JSON line when every agent has started ("ready", or
// "failed" with the errors), then runs until SIGTERM, when it stops every agent and prints how they ended.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

interface Plan {
  hosts: { host: string; url: string; passwordFile: string }[];
  env: Record<string, string>;
  mode: 'session' | 'transaction';
}

const [root, planFile] = process.argv.slice(2) as [string, string];
const plan = JSON.parse(fs.readFileSync(planFile, 'utf8')) as Plan;
const load = (p: string) => import(pathToFileURL(path.join(root, p)).href);
const { Agent } = await load('src/cluster/agent.ts');
const { agentSettings } = await load('src/cluster/settings.ts');
const { createLogger } = await load('src/util/log.ts');
const connect = await load('src/pg/connect.ts');
connect.setConnectionMode?.(plan.mode);

// biome-ignore lint/suspicious/noExplicitAny: two trees' Agent classes, loaded at run time
type AgentLike = any;
// Warnings and errors go to stderr, which bench/fleet.ts keeps in a file of its run.
const log = createLogger({ name: 'bench-fleet', level: 'warn', format: 'json', out: process.stderr });
const agents: AgentLike[] = [];
const errors: string[] = [];
await Promise.all(
  plan.hosts.flatMap((h) =>
    (['primary', 'secondary'] as const).map(async (role) => {
      const password = fs.readFileSync(h.passwordFile, 'utf8').trim();
      const u = new URL(h.url);
      u.password = encodeURIComponent(password);
      const env = { ...plan.env, ROLE: role, OWUI_SYNC_CONNECTION_MODE: plan.mode };
      const s = agentSettings({ role, host: h.host, nodeId: `${h.host}-${role}`, port: '0' }, env);
      const a: AgentLike = new Agent(s, u.toString(), log.child({ node_id: s.nodeId }));
      try {
        await a.open();
        await a.start(`http://127.0.0.1:1/${h.host}/${role}`);
        agents.push(a);
      } catch (err) {
        errors.push(`${h.host} ${role}: ${(err as Error).message}`);
        await a.close?.().catch(() => {});
      }
    }),
  ),
);
console.log(
  JSON.stringify(
    errors.length
      ? { failed: errors.length, agents: agents.length, errors: errors.slice(0, 5) }
      : { ready: agents.length },
  ),
);
process.once('SIGTERM', async () => {
  const t0 = Date.now();
  await Promise.all(agents.map((a) => a.stop(1000).catch(() => {})));
  console.log(JSON.stringify({ stopped: agents.length, ms: Date.now() - t0 }));
  process.exit(0);
});
