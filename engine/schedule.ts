// Learning-rate schedules: pure functions from the step number (0-based, the
// number of optimiser steps already taken) to a learning rate. They compose by
// wrapping, and the training loop applies one with `opt.lr = schedule(step)`.
//
//   const lr = linearWarmup(cosineLR(0.1, 9000, 1e-4), 1000); // 10000 steps in all

export type LRSchedule = (step: number) => number;

interface Rule {
  ok: (v: number) => boolean;
  text: string;
}
const NON_NEGATIVE: Rule = { ok: (v) => Number.isFinite(v) && v >= 0, text: 'a finite number >= 0' };
const POSITIVE: Rule = { ok: (v) => Number.isFinite(v) && v > 0, text: 'a finite number > 0' };
const POSITIVE_INT: Rule = { ok: (v) => Number.isInteger(v) && v > 0, text: 'a positive integer' };
const STEP: Rule = { ok: (v) => Number.isInteger(v) && v >= 0, text: 'an integer >= 0' };

function check(schedule: string, what: string, v: number, rule: Rule): void {
  if (!rule.ok(v)) throw new Error(`${schedule}: ${what} must be ${rule.text}, got ${v}`);
}

/** base * gamma^floor(step / stepSize), as torch.optim.lr_scheduler.StepLR. */
export function stepLR(base: number, stepSize: number, gamma: number): LRSchedule {
  check('stepLR', 'base', base, NON_NEGATIVE);
  check('stepLR', 'stepSize', stepSize, POSITIVE_INT);
  check('stepLR', 'gamma', gamma, POSITIVE);
  return (step) => {
    check('stepLR', 'step', step, STEP);
    return base * gamma ** Math.floor(step / stepSize);
  };
}

/**
 * Half a cosine from base at step 0 down to minLr at totalSteps, then minLr
 * (torch.optim.lr_scheduler.CosineAnnealingLR over one half-period).
 */
export function cosineLR(base: number, totalSteps: number, minLr = 0): LRSchedule {
  check('cosineLR', 'base', base, NON_NEGATIVE);
  check('cosineLR', 'totalSteps', totalSteps, POSITIVE_INT);
  check('cosineLR', 'minLr', minLr, NON_NEGATIVE);
  return (step) => {
    check('cosineLR', 'step', step, STEP);
    const t = Math.min(step, totalSteps) / totalSteps;
    return minLr + ((base - minLr) * (1 + Math.cos(Math.PI * t))) / 2;
  };
}

/**
 * Ramps linearly up to `schedule(0)` over the first warmupSteps steps
 * (schedule(0) * (step + 1) / warmupSteps, so no step is taken with lr 0),
 * then follows `schedule` started afresh: step warmupSteps + k gives schedule(k).
 */
export function linearWarmup(schedule: LRSchedule, warmupSteps: number): LRSchedule {
  check('linearWarmup', 'warmupSteps', warmupSteps, POSITIVE_INT);
  return (step) => {
    check('linearWarmup', 'step', step, STEP);
    return step < warmupSteps ? (schedule(0) * (step + 1)) / warmupSteps : schedule(step - warmupSteps);
  };
}
