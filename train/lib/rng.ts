// A seeded random generator whose state is one integer, so a training run's
// sampling can be saved in a checkpoint and resumed exactly (mulberry32).
export class Rng {
  constructor(public state: number) {
    this.state = state >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Two different integers in [0, n), n >= 2. */
  pair(n: number): [number, number] {
    const a = this.int(n);
    const b = (a + 1 + this.int(n - 1)) % n;
    return [a, b];
  }

  /** A u32 (e.g. a dropout seed). */
  u32(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }

  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    return xs;
  }
}
