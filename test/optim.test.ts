import { describe, it, expect } from 'vitest';
import { Tensor, keep, tidy } from '../engine/tensor.js';
import { mul, sum } from '../engine/ops/elementwise.js';
import { runtime } from '../engine/runtime.js';
import { SGD, Adam, AdamW, type Optimizer } from '../engine/optim.js';
import { stepLR, cosineLR, linearWarmup, type LRSchedule } from '../engine/schedule.js';
import { sgdStep, adamStep, adamState, type SGDRef, type AdamRef } from './reference/optim.js';
import { rng, randomArray } from './gradcheck/harness.js';

// f32 kernels against float64 references after STEPS steps, per element:
// |gpu - ref| <= ATOL + RTOL * |ref|. Parameters are ~1 and each step moves
// them by ~lr (1e-2 .. 1e-1), so a wrong term (a missing bias correction,
// weight decay in the wrong place, dampening ignored) is off by >= 1e-3.
const ATOL = 1e-5;
const RTOL = 1e-5;
const STEPS = 6;
// [7] is not a multiple of 4 nor of the workgroup size.
const SHAPES = [[3, 5], [7]];
// Parameter 1 sits out this step (no .grad): it must be left alone and keep its own step count.
const SKIP = { step: 2, param: 1 };

interface Problem {
  init: Float32Array[];
  /** grads[step][param], null where the parameter has no gradient that step. */
  grads: (Float32Array | null)[][];
}

function problem(seed: number, steps = STEPS): Problem {
  const rand = rng(seed);
  const size = (s: number[]) => s.reduce((a, d) => a * d, 1);
  const init = SHAPES.map((s) => randomArray(size(s), rand));
  const grads = Array.from({ length: steps }, (_, k) =>
    SHAPES.map((s, i) => {
      if (k === SKIP.step && i === SKIP.param) return null;
      const g = randomArray(size(s), rand);
      g[0] = 0; // a zero gradient: Adam's update is then decided by eps and weight decay
      return g;
    }),
  );
  return { init, grads };
}

function makeParams(p: Problem): Tensor[] {
  return p.init.map((d, i) => Tensor.from(d, SHAPES[i]).requireGrad());
}

function setGrad(param: Tensor, g: Float32Array | null): void {
  param.zeroGrad();
  if (g) param.grad = keep(Tensor.from(g, param.shape));
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= ATOL + RTOL * Math.abs(want[i]))) {
      throw new Error(`${what}[${i}]: got ${got[i]}, reference ${want[i]} (|err| ${err.toExponential(2)})`);
    }
  }
}

const constantLR = (lr: number): LRSchedule => () => lr;

interface Case {
  name: string;
  make: (params: Tensor[]) => Optimizer;
  /** One reference step of one parameter; `state` is that parameter's own object. */
  ref: (p: Float64Array, g: Float32Array, state: any, lr: number) => void;
  schedule: LRSchedule;
}

function sgdCase(name: string, o: Omit<SGDRef, 'lr'>, schedule: LRSchedule): Case {
  return {
    name,
    make: (ps) => new SGD(ps, { lr: schedule(0), ...o }),
    ref: (p, g, state, lr) => sgdStep(p, g, state, { ...o, lr }),
    schedule,
  };
}

function adamCase(name: string, o: Omit<AdamRef, 'lr'>, schedule: LRSchedule): Case {
  const Ctor = o.decoupled ? AdamW : Adam;
  return {
    name,
    make: (ps) => new Ctor(ps, { lr: schedule(0), betas: [o.beta1, o.beta2], eps: o.eps, weightDecay: o.weightDecay }),
    ref: (p, g, state, lr) => {
      state.adam ??= adamState(p.length);
      adamStep(p, g, state.adam, { ...o, lr });
    },
    schedule,
  };
}

const warmCosine = linearWarmup(cosineLR(0.05, STEPS - 2, 0.005), 2);
const sgd0 = { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 };
const adam0 = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };

const CASES: Case[] = [
  sgdCase('SGD', sgd0, constantLR(0.1)),
  sgdCase('SGD weight decay', { ...sgd0, weightDecay: 0.05 }, constantLR(0.1)),
  sgdCase('SGD momentum', { ...sgd0, momentum: 0.9 }, constantLR(0.1)),
  sgdCase('SGD momentum dampening', { ...sgd0, momentum: 0.9, dampening: 0.3 }, stepLR(0.1, 2, 0.5)),
  sgdCase('SGD nesterov', { ...sgd0, momentum: 0.9, nesterov: true }, constantLR(0.1)),
  sgdCase('SGD nesterov weight decay', { ...sgd0, momentum: 0.8, nesterov: true, weightDecay: 0.05 }, warmCosine),
  adamCase('Adam', adam0, constantLR(0.01)),
  adamCase('Adam L2 weight decay, betas, eps', { ...adam0, beta1: 0.8, beta2: 0.99, eps: 1e-3, weightDecay: 0.1 }, warmCosine),
  adamCase('AdamW', { ...adam0, weightDecay: 0.1, decoupled: true }, warmCosine),
  adamCase('AdamW strong decay', { ...adam0, weightDecay: 2, decoupled: true }, constantLR(0.05)),
];

describe('optimisers against the CPU reference', () => {
  for (const c of CASES) {
    it(`${c.name}: ${STEPS} steps, one parameter skipping one step`, async () => {
      const prob = problem(CASES.indexOf(c) + 1);
      const params = makeParams(prob);
      const buffers = params.map((p) => p.buffer);
      const opt = c.make(params);
      const ref = prob.init.map((d) => Float64Array.from(d));
      const refState = ref.map(() => ({}));
      for (let k = 0; k < STEPS; k++) {
        const lr = c.schedule(k);
        opt.lr = lr;
        params.forEach((p, i) => setGrad(p, prob.grads[k][i]));
        opt.step();
        ref.forEach((p, i) => {
          const g = prob.grads[k][i];
          if (g) c.ref(p, g, refState[i], lr);
        });
      }
      for (let i = 0; i < params.length; i++) {
        expect(params[i].buffer, 'updated in place').toBe(buffers[i]);
        expectClose(await params[i].data(), ref[i], `${c.name} param ${i}`);
      }
      expect(opt.stateDict().steps).toEqual({ 0: STEPS, 1: STEPS - 1 });
      opt.dispose();
      params.forEach((p) => (p.zeroGrad(), p.dispose()));
    });
  }

  it('the reference comparison notices a wrong rule (Adam run against the AdamW reference)', async () => {
    const prob = problem(99);
    const params = makeParams(prob);
    const opt = new Adam(params, { lr: 0.05, weightDecay: 0.5 });
    const ref = prob.init.map((d) => Float64Array.from(d));
    const states = ref.map((p) => adamState(p.length));
    for (let k = 0; k < STEPS; k++) {
      params.forEach((p, i) => setGrad(p, prob.grads[k][i]));
      opt.step();
      ref.forEach((p, i) => {
        const g = prob.grads[k][i];
        if (g) adamStep(p, g, states[i], { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.5, decoupled: true });
      });
    }
    await expect(params[0].data().then((d) => expectClose(d, ref[0], 'param 0'))).rejects.toThrow(/param 0\[\d+\]/);
    opt.dispose();
    params.forEach((p) => (p.zeroGrad(), p.dispose()));
  });
});

describe('optimiser behaviour', () => {
  it('updates from real gradients, records one dispatch per parameter and no readback', async () => {
    const w = Tensor.from([1, 2, 3]).requireGrad();
    const v = Tensor.from([4, 5]).requireGrad();
    const x = Tensor.from([0.5, -1, 2]);
    const opt = new SGD([w, v], { lr: 0.1, momentum: 0.5 });
    const rec = runtime().recorder;
    for (let k = 0; k < 2; k++) {
      tidy(() => sum(mul(w, x)).backward()); // dL/dw = x; v gets no gradient
      const submits = rec.submits;
      const dispatches = rec.dispatches;
      opt.step();
      expect(rec.submits, 'step() submits nothing').toBe(submits);
      expect(rec.dispatches - dispatches, 'one fused dispatch for w, none for v').toBe(1);
      opt.zeroGrad();
      expect(w.grad).toBeNull();
    }
    // Step 1: buf = x, w -= 0.1 x.  Step 2: buf = 0.5 x + x, w -= 0.1 * 1.5 x.  In all w - 0.25 x.
    expectClose(await w.data(), [1 - 0.125, 2 + 0.25, 3 - 0.5], 'w');
    expect(Array.from(await v.data())).toEqual([4, 5]);
    opt.dispose();
    for (const t of [w, v, x]) t.dispose();
  });

  it('rejects parameters it cannot optimise, naming them', () => {
    const leaf = Tensor.from([1, 2]).requireGrad();
    const frozen = Tensor.from([1, 2]);
    const derived = mul(leaf, leaf);
    expect(() => new SGD([leaf, derived], { lr: 0.1 })).toThrow(/SGD: parameter 1 \[2\] is the output of an op/);
    expect(() => new Adam(new Map([['head.weight', frozen]]), { lr: 0.1 })).toThrow(/Adam: parameter head\.weight \[2\] does not require grad/);
    expect(() => new SGD([leaf, leaf], { lr: 0.1 })).toThrow(/parameter 1 \[2\] is listed twice/);
    expect(() => new SGD([], { lr: 0.1 })).toThrow(/no parameters/);
    expect(() => new SGD([leaf], { lr: -1 })).toThrow(/SGD: lr must be in \[0, Infinity\], got -1/);
    expect(() => new SGD([leaf], { lr: 0.1, nesterov: true })).toThrow(/nesterov needs momentum > 0/);
    expect(() => new AdamW([leaf], { lr: 0.1, betas: [0.9, 1] })).toThrow(/AdamW: betas\[1\]/);
    const opt = new SGD([leaf], { lr: 0.1 });
    expect(() => (opt.lr = NaN)).toThrow(/lr must be/);
    derived.dispose();
    leaf.dispose();
    frozen.dispose();
  });

  it('defaults follow PyTorch: AdamW decays by 0.01, Adam not at all', () => {
    const p = Tensor.from([1]).requireGrad();
    expect(new AdamW([p], { lr: 1 }).weightDecay).toBe(0.01);
    expect(new Adam([p], { lr: 1 }).weightDecay).toBe(0);
    p.dispose();
  });
});

describe('optimiser state', () => {
  // Runs `first` steps on one optimiser, hands its state to a second one over
  // copies of the parameters, then steps both: they must stay bit-identical.
  async function resumeMatches(make: (ps: Map<string, Tensor>) => Optimizer, first: number, then: number) {
    const prob = problem(7, first + then);
    const named = (ps: Tensor[]) => new Map(ps.map((p, i) => [`layer${i}.weight`, p]));
    const a = makeParams(prob);
    const optA = make(named(a));
    const stepAll = (opt: Optimizer, ps: Tensor[], k: number) => {
      ps.forEach((p, i) => setGrad(p, prob.grads[k][i]));
      opt.step();
    };
    for (let k = 0; k < first; k++) stepAll(optA, a, k);

    const b = await Promise.all(a.map(async (p) => Tensor.from(await p.data(), p.shape).requireGrad()));
    const c = await Promise.all(a.map(async (p) => Tensor.from(await p.data(), p.shape).requireGrad()));
    const optB = make(named(b));
    optB.loadStateDict(optA.stateDict());
    const optFresh = make(named(c)); // same parameters, no state: must end elsewhere
    expect(optB.stateDict().steps).toEqual(optA.stateDict().steps);
    for (let k = first; k < first + then; k++) {
      stepAll(optA, a, k);
      stepAll(optB, b, k);
      stepAll(optFresh, c, k);
    }
    for (let i = 0; i < a.length; i++) {
      const da = await a[i].data();
      expect(Array.from(await b[i].data()), `param ${i}`).toEqual(Array.from(da));
      expect(Array.from(await c[i].data()), `param ${i} without the state`).not.toEqual(Array.from(da));
    }
    for (const o of [optA, optB, optFresh]) o.dispose();
    for (const p of [...a, ...b, ...c]) (p.zeroGrad(), p.dispose());
  }

  it('Adam resumes exactly from a state dict', () => resumeMatches((ps) => new Adam(ps, { lr: 0.01, weightDecay: 0.1 }), 3, 3));
  it('AdamW resumes exactly from a state dict', () => resumeMatches((ps) => new AdamW(ps, { lr: 0.01 }), 4, 2));
  it('SGD with momentum resumes exactly from a state dict', () => resumeMatches((ps) => new SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true }), 3, 3));

  it('names state tensors by parameter and slot, and restores lr', () => {
    const p = Tensor.from([1, 2, 3]).requireGrad();
    const opt = new Adam(new Map([['fc.weight', p]]), { lr: 0.01 });
    expect(opt.stateDict()).toMatchObject({ type: 'Adam', lr: 0.01, steps: { 'fc.weight': 0 } });
    expect(opt.stateDict().tensors.size).toBe(0);
    setGrad(p, Float32Array.from([1, 1, 1]));
    opt.step();
    opt.lr = 0.5;
    const sd = opt.stateDict();
    expect([...sd.tensors.keys()]).toEqual(['fc.weight.exp_avg', 'fc.weight.exp_avg_sq']);
    const q = Tensor.from([1, 2, 3]).requireGrad();
    const other = new Adam(new Map([['fc.weight', q]]), { lr: 0.01 });
    other.loadStateDict(sd);
    expect(other.lr).toBe(0.5);
    for (const o of [opt, other]) o.dispose();
    for (const t of [p, q]) (t.zeroGrad(), t.dispose());
  });

  it('rejects a state that does not fit, naming every problem, and changes nothing', () => {
    const p = Tensor.from([1, 2, 3]).requireGrad();
    const q = Tensor.from([1, 2]).requireGrad();
    const opt = new Adam(new Map([['a', p], ['b', q]]), { lr: 0.01 });
    setGrad(p, Float32Array.from([1, 1, 1]));
    setGrad(q, Float32Array.from([1, 1]));
    opt.step();
    const sd = opt.stateDict();

    const target = new Adam(new Map([['a', p], ['b', q]]), { lr: 0.01, betas: [0.9, 0.99] });
    const wrongShape = Tensor.from([0, 0, 0, 0]);
    const tensors = new Map(sd.tensors);
    tensors.delete('a.exp_avg');
    tensors.set('b.exp_avg_sq', wrongShape);
    tensors.set('c.exp_avg', wrongShape);
    expect(() => target.loadStateDict({ ...sd, tensors })).toThrow(
      'Adam.loadStateDict: beta2 saved 0.999 now 0.99; missing: a.exp_avg; unexpected: c.exp_avg; shape mismatch: b.exp_avg_sq expected [2] got [4]',
    );
    expect(target.stateDict().steps).toEqual({ a: 0, b: 0 });
    expect(() => new SGD([p, q], { lr: 0.1 }).loadStateDict(sd)).toThrow(/saved by Adam, loading into SGD/);
    for (const o of [opt, target]) o.dispose();
    for (const t of [p, q, wrongShape]) (t.zeroGrad(), t.dispose());
  });
});

describe('learning-rate schedules', () => {
  const values = (s: LRSchedule, n: number) => Array.from({ length: n }, (_, k) => s(k));
  const close = (got: number[], want: number[]) => got.forEach((g, i) => expect(g, `step ${i}`).toBeCloseTo(want[i], 12));

  it('stepLR multiplies by gamma every stepSize steps', () => {
    close(values(stepLR(0.1, 3, 0.5), 8), [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025]);
  });

  it('cosineLR follows half a cosine to minLr and stays there', () => {
    // (1 + cos(pi k / 4)) / 2 for k = 0..4: 1, 0.853553.., 0.5, 0.146446.., 0
    close(values(cosineLR(1, 4), 6), [1, 0.8535533905932737, 0.5, 0.14644660940672624, 0, 0]);
    close(values(cosineLR(0.1, 2, 0.01), 3), [0.1, 0.055, 0.01]);
  });

  it('linearWarmup ramps to the wrapped schedule, which then starts from its step 0', () => {
    close(values(linearWarmup(stepLR(0.1, 2, 0.1), 4), 8), [0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.01, 0.01]);
    close(values(linearWarmup(cosineLR(1, 4), 2), 8), [0.5, 1, 1, 0.8535533905932737, 0.5, 0.14644660940672624, 0, 0]);
  });

  it('rejects bad arguments and steps', () => {
    expect(() => stepLR(0.1, 0, 0.5)).toThrow('stepLR: stepSize must be a positive integer, got 0');
    expect(() => cosineLR(0.1, 2.5)).toThrow('cosineLR: totalSteps must be a positive integer, got 2.5');
    expect(() => cosineLR(-1, 10)).toThrow('cosineLR: base must be a finite number >= 0, got -1');
    expect(() => linearWarmup(cosineLR(1, 4), 0)).toThrow(/warmupSteps must be a positive integer/);
    expect(() => stepLR(0.1, 2, 0.5)(-1)).toThrow('stepLR: step must be an integer >= 0, got -1');
  });
});
