// The shared tail of the training commands: the engine up for the body, the
// outcome as an exit code, the engine down whatever happens.
import { init, shutdown } from '../../engine/runtime.js';
import { UsageError } from './args.js';

/** What a training loop reports at its end. */
export interface TrainOutcome {
  status: 'done' | 'interrupted' | 'diverged';
  message?: string;
}

/**
 * Runs `body` with the engine initialised and returns the exit code: 0 done,
 * 130 interrupted (Ctrl-C, checkpoint written), 3 diverged, 2 a usage error,
 * 1 any other error; a number from the body is taken as the code itself.
 * The outcome's message and errors go to stderr.
 */
export async function runTrainingCommand(body: () => Promise<TrainOutcome | number>): Promise<number> {
  await init();
  try {
    const r = await body();
    if (typeof r === 'number') return r;
    if (r.message) process.stderr.write(r.message + '\n');
    return r.status === 'done' ? 0 : r.status === 'interrupted' ? 130 : 3;
  } catch (e) {
    process.stderr.write(`${e instanceof UsageError ? '' : 'error: '}${(e as Error).message}\n`);
    return e instanceof UsageError ? 2 : 1;
  } finally {
    await shutdown();
  }
}
