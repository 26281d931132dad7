// Reverse-mode differentiation: walks the tape from a tensor back to the leaves.

import { installBackward, keep, noGrad, tidy } from '../tensor/engine.js';
import { ShapeError } from '../errors.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import { releaseHandle, retainHandle, Tensor, type TapeNode } from '../tensor/tensor.js';
import { add } from '../ops/elementwise.js';
import { ones } from '../ops/creation.js';
import { addRowSparse, rowSparseToDense } from '../ops/sparse-sort.js';
import { RowSparse } from '../sparse/row-sparse.js';

/** Nodes in an order where every node comes after all nodes that consume its outputs. */
function topologicalOrder(root: TapeNode): TapeNode[] {
  const order: TapeNode[] = [];
  const visited = new Set<TapeNode>();
  const stack: [TapeNode, boolean][] = [[root, false]];
  while (stack.length > 0) {
    const [node, expanded] = stack.pop()!;
    if (expanded) {
      order.push(node);
      continue;
    }
    if (visited.has(node)) continue;
    visited.add(node);
    stack.push([node, true]);
    for (const input of node.inputs) {
      if (input.node !== null && !visited.has(input.node)) stack.push([input.node, false]);
    }
  }
  return order.reverse();
}

function accumulate(grads: Map<Tensor, Tensor>, tensor: Tensor, grad: Tensor): void {
  if (!shapesEqual(grad.shape, tensor.shape)) {
    throw new ShapeError(`backward: gradient ${formatShape(grad.shape)} does not match tensor ${tensor.describe()}`);
  }
  const previous = grads.get(tensor);
  if (previous === undefined) {
    grads.set(tensor, grad);
    return;
  }
  grads.set(tensor, add(previous, grad));
  previous.dispose();
  grad.dispose();
}

/** Tensors over a node's saved data, valid during its backward call only. */
function savedViews(node: TapeNode): Tensor[] {
  return node.saved.map((handle, i) => {
    retainHandle(handle);
    const view = new Tensor(handle, node.savedSpecs[i].shape, node.savedSpecs[i].dtype);
    releaseHandle(handle);
    return view;
  });
}

function releaseNode(node: TapeNode): void {
  if (node.released) return;
  node.released = true;
  node.saved.forEach(releaseHandle);
}

/**
 * Computes gradients of `root` with respect to every leaf with `requiresGrad` and adds them
 * to the leaves' `.grad`, or to `.sparseGrad` for row-sparse gradients. The graph is released afterwards unless `retainGraph` is set.
 */
export function backward(root: Tensor, seed: Tensor | undefined, options: { retainGraph?: boolean } = {}): void {
  root.storage('backward');
  if (!root.requiresGrad) {
    const stopped = root.gradientStoppedBy;
    const cause = stopped ? `: op ${stopped.op}, which made it, is not differentiable (${stopped.reason})` : '';
    throw new ShapeError(`backward: tensor ${root.describe()} does not require a gradient${cause}`);
  }
  if (seed === undefined && root.size !== 1) {
    throw new ShapeError(`backward: tensor ${root.describe()} is not a scalar; pass the seed gradient explicitly`);
  }

  noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    const start = seed ?? ones([...root.shape], { backend: root.backend.name });
    grads.set(root, seed ? add(seed, 0) : start);

    if (root.node === null) {
      accumulateLeaf(root, grads.get(root)!);
      return;
    }

    for (const node of topologicalOrder(root.node)) {
      if (node.released) {
        throw new ShapeError(`backward: the graph through ${node.opName} was already released; pass { retainGraph: true } to the first backward()`);
      }
      const views = savedViews(node);
      const inputs = views.slice(0, node.inputs.length);
      const outputs = views.slice(node.inputs.length);
      const outputGrads = outputs.map((_, i) => findOutputGrad(grads, node, i));
      if (outputGrads.every((grad) => grad === null)) {
        views.forEach((view) => view.dispose());
        continue;
      }

      // tidy frees the intermediates of the backward formula and keeps the gradients it returns.
      const inputGrads = tidy(() => node.backward(inputs, outputs, outputGrads).map(unwrapRowSparse)).map(rewrapRowSparse);
      // Output gradients handed on unchanged to an input (add, reshape): the first input takes
      // the tensor itself, since the node's output gradients are released below anyway.
      const handedOn = new Set<Tensor>();
      node.inputs.forEach((input, i) => {
        const grad = inputGrads[i];
        if (grad === null || grad === undefined) return;
        if (grad instanceof RowSparse) {
          acceptRowSparse(grads, input, grad, node.opName);
          return;
        }
        if (!shapesEqual(grad.shape, input.shape)) {
          throw new ShapeError(
            `${node.opName} backward: the gradient of input ${i} is ${formatShape(grad.shape)}, but input ${i} is tensor ${input.describe()}; a backward returns one gradient of each input's shape`,
          );
        }
        if (!input.requiresGrad) {
          if (!inputs.includes(grad) && !outputGrads.includes(grad)) grad.dispose();
          return;
        }
        // A backward may return an output gradient or a saved tensor unchanged: each gradient
        // has one owner, so a saved tensor or an output gradient handed on before is copied.
        let owned = grad;
        if (inputs.includes(grad) || handedOn.has(grad)) owned = add(grad, 0);
        else if (outputGrads.includes(grad)) handedOn.add(grad);
        if (input.node === null) accumulateLeaf(input, owned);
        else accumulate(grads, input, owned);
      });

      views.forEach((view) => view.dispose());
      for (const [tensor, grad] of [...grads]) {
        if (tensor.node === node) {
          if (!handedOn.has(grad)) grad.dispose();
          grads.delete(tensor);
        }
      }
      if (!options.retainGraph) releaseNode(node);
    }
    for (const grad of grads.values()) grad.dispose();
  });
}

function findOutputGrad(grads: Map<Tensor, Tensor>, node: TapeNode, outputIndex: number): Tensor | null {
  for (const [tensor, grad] of grads) {
    if (tensor.node === node && tensor.outputIndex === outputIndex) return grad;
  }
  return null;
}

function accumulateLeaf(leaf: Tensor, grad: Tensor): void {
  if (leaf.grad === null || leaf.grad.isDisposed) {
    leaf.grad = grad;
  } else {
    const previous = leaf.grad;
    leaf.grad = add(previous, grad);
    previous.dispose();
    grad.dispose();
  }
  // Gradients outlive the tidy scope of the step that made them.
  keep(leaf.grad);
}

/** A RowSparse as a plain object, so that `tidy` keeps its tensors. */
interface UnwrappedRowSparse {
  rowSparse: { rows: Tensor; values: Tensor };
  denseShape: readonly number[];
  rowOffset: number;
}

function unwrapRowSparse(grad: Tensor | RowSparse | null): Tensor | UnwrappedRowSparse | null {
  if (!(grad instanceof RowSparse)) return grad;
  return { rowSparse: { rows: grad.rows, values: grad.values }, denseShape: grad.denseShape, rowOffset: grad.rowOffset };
}

function rewrapRowSparse(grad: Tensor | UnwrappedRowSparse | null): Tensor | RowSparse | null {
  if (grad === null || grad instanceof Tensor) return grad;
  return new RowSparse(grad.rowSparse.rows, grad.rowSparse.values, grad.denseShape, grad.rowOffset);
}

/**
 * Takes a row-sparse gradient for `input`: a leaf accumulates it in `sparseGrad`, any other
 * tensor gets it densified into the dense gradient flow.
 */
function acceptRowSparse(grads: Map<Tensor, Tensor>, input: Tensor, grad: RowSparse, opName: string): void {
  if (!input.requiresGrad) {
    grad.dispose();
    return;
  }
  if (!shapesEqual(grad.denseShape, input.shape)) {
    const shape = formatShape(grad.denseShape);
    grad.dispose();
    throw new ShapeError(`${opName} backward: row-sparse gradient of shape ${shape} does not match input tensor ${input.describe()}`);
  }
  if (input.node !== null) {
    const dense = rowSparseToDense(grad);
    grad.dispose();
    accumulate(grads, input, dense);
    return;
  }

  const previous = input.sparseGrad;
  if (previous === null || previous.rows.isDisposed || previous.values.isDisposed) {
    input.sparseGrad = grad;
  } else {
    input.sparseGrad = addRowSparse(previous, grad);
    previous.dispose();
    grad.dispose();
  }
  // Gradients outlive the tidy scope of the step that made them.
  keep(input.sparseGrad.rows);
  keep(input.sparseGrad.values);
}

installBackward(backward);
