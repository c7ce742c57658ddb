// Pieces both FaceNet backbones are built from.
import { Tensor, isGradEnabled } from '../../engine/tensor.js';
import { Module } from '../../engine/nn/module.js';
import { BatchNorm, activate } from '../../engine/nn/layers.js';
import type { FusedActivation } from '../../engine/ops/batchnorm.js';

/**
 * Batchnorm followed by an activation. Without a graph to record (inference)
 * the activation runs inside the batchnorm kernel, saving a pass over the
 * tensor; while recording, the fused form is refused by the op, so the
 * activation runs as its own op.
 */
export function batchNormAct(bn: BatchNorm, x: Tensor, act: FusedActivation): Tensor {
  return isGradEnabled() ? activate(bn.forward(x), act) : bn.forward(x, act);
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
