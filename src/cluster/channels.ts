import crypto from 'node:crypto';

/**
 * NOTIFY channels, one set per cluster: a job queued, a lease resigned or a deployment's state changed in one
 * cluster wakes the agents of that cluster only. With one channel for the whole fleet, every queued job woke
 * every idle worker of every host, and each of them ran a claim: queries grew with the square of the hosts.
 * A cluster's name is hashed into the channel (a channel is an identifier of at most 63 bytes), with SHA-256 because
 * PostgreSQL has it built in: sql/012_waiting_job.sql names the jobs channel the same way in a trigger.
 */
export type ChannelKind = 'lease' | 'jobs' | 'state';

export function channel(kind: ChannelKind, cluster: string): string {
  return `owui_sync_${kind}_${crypto.createHash('sha256').update(cluster).digest('hex').slice(0, 16)}`;
}
