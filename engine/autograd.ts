// Reverse-mode autograd over the graph that `record()` builds: each op's output
// remembers its inputs and a closure that maps the output's gradient to the
// inputs' gradients (micrograd's design, with GPU tensors).
import { Tensor, noGrad, keep, shapeStr } from './tensor.js';
import { add } from './ops/elementwise.js';
import { fill, clone } from './ops/fill.js';

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: nets are deep enough to overflow a recursive one.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const c = inputs[i];
      if (c.requiresGrad && !seen.has(c)) {
        seen.add(c);
        stack.push([c, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function backward(root: Tensor, seed?: Tensor): void {
  if (!root.requiresGrad) throw new Error(`backward(): ${root} does not require grad (no input of the graph requires it)`);
  if (!seed && root.size !== 1) throw new Error(`backward() without a seed needs a scalar, got ${shapeStr(root.shape)}`);
  if (seed && !sameShape(seed.shape, root.shape)) {
    throw new Error(`backward(): seed ${shapeStr(seed.shape)} does not match ${shapeStr(root.shape)}`);
  }
  const order = topoOrder(root);
  noGrad(() => {
    // Every value in `grads` is a distinct tensor owned by the map, so it can be
    // handed to a leaf or disposed without affecting another entry.
    const grads = new Map<Tensor, Tensor>();
    const owned = new Set<Tensor>();
    const own = (t: Tensor) => {
      const mine = owned.has(t) ? clone(t) : t;
      owned.add(mine);
      return mine;
    };
    grads.set(root, seed ? clone(seed) : fill(root.shape, 1));
    owned.add(grads.get(root)!);
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (!t.node) {
        // A leaf: accumulate into .grad, which outlives any tidy() scope.
        owned.delete(g);
        if (t.grad) {
          const sum = add(t.grad, g);
          t.grad.dispose();
          g.dispose();
          t.grad = keep(sum);
        } else {
          t.grad = keep(g);
        }
        continue;
      }
      const inGrads = t.node.backward(g);
      t.node.inputs.forEach((x, k) => {
        let gx = inGrads[k];
        if (!gx || !x.requiresGrad) return;
        if (!sameShape(gx.shape, x.shape)) {
          throw new Error(`${t.node!.op} backward: gradient ${shapeStr(gx.shape)} for input ${k} of shape ${shapeStr(x.shape)}`);
        }
        gx = own(gx);
        const prev = grads.get(x);
        if (prev) {
          grads.set(x, add(prev, gx));
          owned.add(grads.get(x)!);
          owned.delete(prev);
          owned.delete(gx);
          prev.dispose();
          gx.dispose();
        } else {
          grads.set(x, gx);
        }
      });
      // Anything the closure returned but nobody took is garbage now, and so is g.
      for (const gx of inGrads) if (gx && gx !== g && !owned.has(gx)) gx.dispose();
      owned.delete(g);
      g.dispose();
    }
  });
}
