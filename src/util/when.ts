// Relative times and durations as an operator reads them at a glance ("42 s ago", "5 min", "3 h").

/** A duration in seconds, rounded to the unit that reads best. */
export function duration(s: number): string {
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

/** How long ago an ISO time was, or '-' for none. */
export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return '-';
  return `${duration(Math.max(0, (now - Date.parse(iso)) / 1000))} ago`;
}
