import type { ReactNode } from 'react';
import { LIST_KEYS, type Screen, type ScreenProps } from '../screen.ts';
import { ClusterScreen } from './cluster.tsx';
import { ConflictScreen } from './conflict.tsx';
import { ConflictConfigScreen } from './conflict-config.tsx';
import { ConflictsScreen } from './conflicts.tsx';
import { DeployScreen } from './deploy.tsx';
import { DeploymentScreen } from './deployment.tsx';
import { Deployments } from './deployments.tsx';
import { DeregisterScreen } from './deregister.tsx';
import { FailoverScreen } from './failover.tsx';
import { Home } from './home.tsx';
import { IntervalScreen } from './interval.tsx';
import { JobsScreen } from './jobs.tsx';
import { NodeScreen } from './node.tsx';
import { RegisterScreen } from './register.tsx';
import { RestoreScreen } from './restore.tsx';
import { StrategyScreen } from './strategy.tsx';
import { SyncScreen } from './sync.tsx';

// The registry of the menu's screens: for each, its title, the keys its status line shows, and how it is drawn.
// A new screen is a file in this folder, a variant of Screen (screen.ts) and one entry here.

interface ScreenDef<S extends Screen> {
  title: (s: S) => string;
  keys: string;
  draw: (p: ScreenProps, s: S) => ReactNode;
}
type Registry = { [K in Screen['id']]: ScreenDef<Extract<Screen, { id: K }>> };

const CHOOSE = '↑↓/jk move · Enter choose';

export const SCREENS: Registry = {
  home: { title: () => 'Main menu', keys: LIST_KEYS, draw: (p) => <Home {...p} /> },
  deployments: { title: () => 'Deployments', keys: LIST_KEYS, draw: (p) => <Deployments {...p} /> },
  deployment: {
    title: (s) => `Deployment ${s.client}`,
    keys: LIST_KEYS,
    draw: (p, s) => <DeploymentScreen {...p} client={s.client} />,
  },
  interval: {
    title: (s) => `${s.resume ? 'Start / resume' : 'Interval of'} ${s.client}`,
    keys: CHOOSE,
    draw: (p, s) => <IntervalScreen {...p} client={s.client} resume={s.resume} />,
  },
  sync: {
    title: (s) => `Sync ${s.client} now (${s.full ? 'full' : 'incremental'})`,
    keys: 'Esc back (the sync goes on)',
    draw: (p, s) => <SyncScreen {...p} client={s.client} full={s.full} />,
  },
  jobs: {
    title: (s) => `Last jobs of ${s.client}`,
    keys: '↑↓/jk move',
    draw: (p, s) => <JobsScreen {...p} client={s.client} />,
  },
  conflicts: {
    title: (s) => `Conflicts of ${s.client} (${s.pending ? 'pending' : 'all'})`,
    keys: `${LIST_KEYS} · a all/pending`,
    draw: (p, s) => <ConflictsScreen {...p} client={s.client} pending={s.pending} />,
  },
  conflict: {
    title: () => 'Conflict',
    keys: '↑↓/jk scroll · s source · t target · m merged',
    draw: (p, s) => <ConflictScreen {...p} logId={s.logId} />,
  },
  'conflict-config': {
    title: (s) => `Conflict configuration of ${s.client}`,
    keys: LIST_KEYS,
    draw: (p, s) => <ConflictConfigScreen {...p} client={s.client} />,
  },
  strategy: {
    title: (s) => `Strategy for ${s.table ?? 'every other table'}`,
    keys: CHOOSE,
    draw: (p, s) => <StrategyScreen {...p} client={s.client} table={s.table} current={s.current} />,
  },
  deregister: {
    title: (s) => `Deregister ${s.client}`,
    keys: CHOOSE,
    draw: (p, s) => <DeregisterScreen {...p} client={s.client} />,
  },
  register: {
    title: () => 'Register a client',
    keys: 'type, Enter next · Esc back',
    draw: (p) => <RegisterScreen {...p} />,
  },
  restore: {
    title: (s) => `Restore ${s.client}`,
    keys: 'type the path, Enter restore',
    draw: (p, s) => <RestoreScreen {...p} client={s.client} />,
  },
  cluster: { title: () => 'Cluster', keys: LIST_KEYS, draw: (p) => <ClusterScreen {...p} /> },
  node: { title: (s) => `Node ${s.nodeId}`, keys: LIST_KEYS, draw: (p, s) => <NodeScreen {...p} nodeId={s.nodeId} /> },
  failover: {
    title: (s) => `Failover test (${s.mode})`,
    keys: 'q and Esc wait while a node is stopped',
    draw: (p, s) => <FailoverScreen {...p} mode={s.mode} />,
  },
  deploy: {
    title: () => 'Deploy / update the pair',
    keys: 'a apply (asks for a typed word)',
    draw: (p) => <DeployScreen {...p} />,
  },
};

const defOf = <S extends Screen>(s: S) => SCREENS[s.id] as unknown as ScreenDef<S>;

/** A screen's title and the keys its status line shows. */
export function describeScreen(s: Screen): { title: string; keys: string } {
  const d = defOf(s);
  return { title: d.title(s), keys: d.keys };
}

/** Draw a screen. */
export function drawScreen(s: Screen, p: ScreenProps): ReactNode {
  return defOf(s).draw(p, s);
}
