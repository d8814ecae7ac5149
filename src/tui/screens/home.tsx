import type { Screen, ScreenProps } from '../screen.ts';
import { List, type ListItem } from '../ui.tsx';

export function Home({ go }: ScreenProps) {
  const items: ListItem[] = [
    { key: 'deployments', label: 'Deployments', note: 'every client: schedule, sync, conflicts' },
    { key: 'cluster', label: 'Cluster', note: 'the lease, both nodes, logs, failover test' },
    { key: 'register', label: 'Register a client', note: 'a tenant not synced yet' },
    { key: 'deploy', label: 'Deploy / update the pair', note: 'the containers of this host: dry run, then apply' },
  ];
  return <List items={items} onSelect={(i) => go({ id: i.key } as Screen)} />;
}
