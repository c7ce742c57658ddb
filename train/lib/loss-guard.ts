// Stops training when the loss goes bad: NaN or infinite, or exploding
// (far above its recent average), before the optimiser applies the step that
// produced it, so the parameters and the last checkpoint stay good.

export interface LossGuardOptions {
  /** A loss above factor x the running average counts as exploding; default 10. */
  factor?: number;
  /** Steps before the explosion test starts (the average needs some history); default 50. */
  warmup?: number;
  /** Weight of the newest loss in the running average; default 0.02 (about the last 50 steps). */
  smoothing?: number;
}

export class LossGuard {
  private average = 0;
  private seen = 0;
  readonly factor: number;
  readonly warmup: number;
  readonly smoothing: number;

  constructor(opts: LossGuardOptions = {}) {
    this.factor = opts.factor ?? 10;
    this.warmup = opts.warmup ?? 50;
    this.smoothing = opts.smoothing ?? 0.02;
  }

  /** Null when `loss` is fine (and then it joins the average), else why training must stop. */
  check(loss: number): string | null {
    if (!Number.isFinite(loss)) return `the loss is ${loss}`;
    // Needs at least one earlier loss to compare with, whatever the warm-up.
    if (this.seen >= Math.max(1, this.warmup) && loss > this.factor * Math.max(this.average, 1e-3)) {
      return `the loss exploded: ${loss.toPrecision(4)} against a running average of ${this.average.toPrecision(4)} (over ${this.factor}x)`;
    }
    this.average = this.seen === 0 ? loss : this.average + this.smoothing * (loss - this.average);
    this.seen++;
    return null;
  }
}
