// Waiting for the GPU without taking a CPU core from it.
//
// dawn.node resolves its promises (mapAsync, onSubmittedWorkDone, ...) by
// polling: while one is pending it calls the instance's ProcessEvents from a
// setImmediate callback that re-arms itself every event-loop turn, looking
// setImmediate up on the global object each time. That is a busy loop: about
// 100,000 turns per MTCNN detection here. On a GPU it only burns a core; on a
// software adapter (lavapipe runs the "GPU" work on the CPU's cores) it takes
// a core from the threads doing the work: on a 2-core machine, MTCNN on
// multiface.jpg took 500 ms waiting this way and 280 ms with the loop slowed.
//
// So while the engine waits for the GPU, the global setImmediate is replaced
// by one that first lets a few turns pass at full speed (short waits stay
// short) and then sleeps the thread a little before each turn, backing off to
// at most MAX_SLEEP_MS: the polling then costs a few percent of a core, and a
// wait ends at most about MAX_SLEEP_MS after the GPU has finished. Outside
// engine waits the global is left alone.
const SPIN_MS = 0.05;
const MAX_SLEEP_MS = 0.5;

let waiting = 0;
let since = 0;
let original: typeof setImmediate | null = null;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function patientSetImmediate(this: unknown, ...args: Parameters<typeof setImmediate>): NodeJS.Immediate {
  const elapsed = performance.now() - since;
  // Atomics.wait on the main thread is a plain timed sleep (Node allows it): nothing else wakes it.
  if (elapsed > SPIN_MS) Atomics.wait(sleeper, 0, 0, Math.min(MAX_SLEEP_MS, elapsed / 4));
  return original!.apply(this, args);
}

/**
 * Awaits `start()`'s promise (a dawn.node GPU promise: mapAsync,
 * onSubmittedWorkDone) with dawn's polling slowed as described above. The
 * replacement is in place from before `start` runs (dawn arms its first poll
 * inside that call) until the last overlapping wait has finished.
 */
export async function gpuWait<T>(start: () => Promise<T>): Promise<T> {
  if (waiting++ === 0) {
    original = globalThis.setImmediate;
    since = performance.now();
    globalThis.setImmediate = patientSetImmediate as typeof setImmediate;
  }
  try {
    return await start();
  } finally {
    if (--waiting === 0) {
      globalThis.setImmediate = original!;
      original = null;
    }
  }
}
