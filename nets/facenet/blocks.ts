// Pieces both FaceNet backbones are built from.
import { Tensor, isGradEnabled, keep } from '../../engine/tensor.js';
import { Module } from '../../engine/nn/module.js';
import { BatchNorm } from '../../engine/nn/layers.js';
import { foldBatchNorm, type FusedActivation } from '../../engine/ops/batchnorm.js';

/**
 * Batchnorm followed by an activation, fused in the batchnorm's kernels (its
 * forward and, in training, its backward: no separate activation passes).
 */
export function batchNormAct(bn: BatchNorm, x: Tensor, act: FusedActivation): Tensor {
  return bn.forward(x, act);
}

/** A module with a one-tensor forward. */
export type Layer = Module & { forward(x: Tensor): Tensor };

/** Layers run in order, registered as children '0', '1', ... (PyTorch's nn.Sequential, for the names). */
export class Sequential<M extends Layer = Layer> extends Module {
  readonly items: readonly M[];

  constructor(items: M[]) {
    super();
    this.items = items.map((m, i) => this.child(String(i), m));
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (const m of this.items) h = m.forward(h);
    return h;
  }
}

/**
 * A layer's weight and bias with the following inference batchnorm folded in
 * (see foldBatchNorm), made on first use and kept until dropped. Blocks use it
 * only in eval mode without gradients, and drop it on any forward that
 * records a graph (weights may be about to change), on train()/eval() and on
 * loadStateDict(); after changing weights any other way, call dropDerived()
 * on the net.
 */
export class FoldedBn {
  private folded: { weight: Tensor; bias: Tensor } | null = null;

  constructor(private readonly weight: Tensor, private readonly bias: Tensor | null, private readonly bn: BatchNorm) {}

  get(): { weight: Tensor; bias: Tensor } {
    if (!this.folded) {
      const bn = this.bn;
      const f = foldBatchNorm(this.weight, this.bias, bn.weight, bn.bias, bn.runningMean, bn.runningVar, bn.opts.eps ?? 1e-5);
      this.folded = { weight: keep(f.weight), bias: keep(f.bias) };
    }
    return this.folded;
  }

  drop(): void {
    this.folded?.weight.dispose();
    this.folded?.bias.dispose();
    this.folded = null;
  }
}

/** Whether a block may run its folded form: inference (eval mode, no graph). */
export function useFolded(m: Module): boolean {
  return !m.training && !isGradEnabled();
}
