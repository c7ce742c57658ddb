// The exit codes of the training commands (train/lib/command.ts): what a
// shell script or a scheduler looks at. Each call brings the engine up and
// down, so this file has the device to itself.
import { describe, it, expect, vi } from 'vitest';
import { runTrainingCommand, type TrainOutcome } from '../train/lib/command.js';
import { UsageError } from '../train/lib/args.js';
import { isInitialised } from '../engine/runtime.js';

describe('runTrainingCommand', () => {
  it('maps outcomes and errors to exit codes, reports messages, and shuts the engine down', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const code = async (body: () => Promise<TrainOutcome | number>) => {
        const c = await runTrainingCommand(async () => {
          expect(isInitialised()).toBe(true);
          return body();
        });
        expect(isInitialised()).toBe(false);
        return c;
      };
      expect(await code(async () => ({ status: 'done' }))).toBe(0);
      expect(await code(async () => ({ status: 'interrupted', message: 'interrupted at epoch 2' }))).toBe(130);
      expect(await code(async () => ({ status: 'diverged', message: 'loss is NaN' }))).toBe(3);
      expect(await code(async () => 0)).toBe(0);
      expect(await code(async () => { throw new UsageError('--resume: no checkpoint'); })).toBe(2);
      expect(await code(async () => { throw new Error('disk full'); })).toBe(1);
      const written = stderr.mock.calls.map((c) => String(c[0])).join('');
      expect(written).toContain('interrupted at epoch 2\n');
      expect(written).toContain('loss is NaN\n');
      expect(written).toContain('--resume: no checkpoint\n');
      expect(written).not.toContain('error: --resume');
      expect(written).toContain('error: disk full\n');
    } finally {
      stderr.mockRestore();
    }
  });
});
