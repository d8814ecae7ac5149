import v8 from 'node:v8';
import vm from 'node:vm';

// How a sync keeps its memory bounded (issue 13: a full sync's peak RSS under 150 MB, whatever the tenant).
//
// A sync's pages are megabytes of short-lived data that outlive V8's young generation (a page stays alive while
// PostgreSQL works on it), so they die in the old generation, which V8 lets grow to several times what is live
// before it collects it: 60 to 100 MB more at the peak of a 75,000-row full sync. A thread that reads or receives
// pages checks its heap after each one and collects once it holds `headroom` more than was live after its last
// collection. Unlike a hard limit (resourceLimits, --max-old-space-size), that never fails a run whose live data
// is larger: a huge row still fits, the threshold just moves up with it.

/**
 * The V8 options the executable starts Node with (bin/owui-sync.js, the container's entrypoint, the demo's
 * agents): a young generation of 1 MB semi-spaces instead of up to 16 MB. A sync's main thread receives every
 * page's row records, which survive a PostgreSQL round trip, so V8 would grow its semi-spaces to the maximum:
 * 32 MB resident for nothing. The flag would apply to the reader thread too (it overrides resourceLimits); that
 * thread's rows die young, so it is given a young generation of its own before it starts (sqlite/source.ts).
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** How far a sync's threads let their heap grow past what was live before they collect (softHeapLimit). */
export const SYNC_HEAP_HEADROOM = 12 * 1024 * 1024;

let gc: ((options?: { type: 'minor' | 'major' }) => void) | null = null;

function collectNow(type: 'minor' | 'major' = 'major'): void {
  if (!gc) {
    // Reaching V8's collector without starting Node with --expose-gc (the way Jest's leak detector does it): the
    // flag applies to contexts made after it, so only this one sees `gc`.
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as typeof gc;
  }
  // Only a minor collection takes options: gc({ type: 'major' }) collects nothing here (Node 20's V8), gc() does.
  if (type === 'minor') gc!({ type });
  else gc!();
}

/**
 * Room for `bytes` of new objects in this thread's young generation, made now if it has less: one scavenge here,
 * before a rollback-journal read statement, rather than one inside it, while it holds the tenant's shared lock and
 * Open WebUI's writer waits (sqlite/reader.ts). Measured on the 75,000-row tenant in rollback-journal mode, in one
 * thread with the reader thread's 16 MB semi-spaces: 40 of 181 scavenges fell inside a statement, and 19 of the 21
 * statements that held the lock more than 0.5 ms had one (the longest 3.3 ms); made room first, none of 239 did,
 * the longest statement took 1.2 ms, and the checks cost 9 ms in all. A young generation too small to give the room
 * many times over (the main thread's 1 MB semi-spaces) is left alone: it would collect before every statement.
 */
export function youngRoom(bytes: number): void {
  const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  if (!young || young.space_size < 4 * bytes || young.space_available_size >= bytes) return;
  collectNow('minor');
}

/** A soft heap limit for this thread: call the function after each page; true if it collected. */
export function softHeapLimit(headroomBytes: number): () => boolean {
  let threshold = v8.getHeapStatistics().used_heap_size + headroomBytes;
  return () => {
    if (v8.getHeapStatistics().used_heap_size <= threshold) return false;
    collectNow();
    threshold = v8.getHeapStatistics().used_heap_size + headroomBytes;
    return true;
  };
}
