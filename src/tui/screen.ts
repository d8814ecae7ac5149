import type { StopMode } from '../ops/nodes.ts';
import type { MenuBackend } from './backend.ts';

// What every screen of the menu shares: where it can go (Screen), what it is given (ScreenProps). The screens
// are in screens/, one file each; screens/index.tsx is their registry (title, keys, how to draw each).

export type Screen =
  | { id: 'home' }
  | { id: 'deployments' }
  | { id: 'deployment'; client: string }
  | { id: 'interval'; client: string; resume: boolean }
  | { id: 'sync'; client: string; full: boolean }
  | { id: 'jobs'; client: string }
  | { id: 'conflicts'; client: string; pending: boolean }
  | { id: 'conflict'; logId: string }
  | { id: 'conflict-config'; client: string }
  | { id: 'strategy'; client: string; table: string | null; current: string }
  | { id: 'deregister'; client: string }
  | { id: 'restore'; client: string }
  | { id: 'register' }
  | { id: 'cluster' }
  | { id: 'node'; nodeId: string }
  | { id: 'failover'; mode: StopMode }
  | { id: 'deploy' };

export interface ScreenProps {
  backend: MenuBackend;
  go: (s: Screen) => void;
  /** Rows the body may use. */
  rows: number;
}

/** The legacy menus' intervals (legacy-toolkit 1.9). */
export const INTERVALS = [60, 300, 3600, 14400, 86400];

export const LIST_KEYS = '↑↓/jk move · Enter select · / filter';
