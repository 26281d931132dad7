// Runs ops on backends, records them on the tape, and tracks tensors for tidy().

import type { Backend, BackendName } from '../backend/backend.js';
import { getBackend } from '../backend/registry.js';
import { ShapeError } from '../errors.js';
import type { OpDef, TensorSpec } from '../ops/op.js';
import { assertValidShape, formatShape, sizeOf } from './shape.js';
import { installTensorHooks, retainHandle, Tensor, type TapeNode } from './tensor.js';

let gradDisabledDepth = 0;
const scopes: Set<Tensor>[] = [];

/** Returns whether ops currently record onto the tape. */
export function isGradEnabled(): boolean {
  return gradDisabledDepth === 0;
}

/** Runs `fn` without recording: its outputs have no tape record and no gradient. */
export function noGrad<T>(fn: () => T): T {
  gradDisabledDepth++;
  try {
    return fn();
  } finally {
    gradDisabledDepth--;
  }
}

/**
 * Runs `fn` and disposes every tensor created during the call except those it returns
 * (a tensor, or an array or object of tensors) and those passed to `keep`.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) {
    throw new TypeError('tidy: the function returned a Promise; tidy only takes synchronous functions');
  }

  const returned = collectTensors(result);
  const parent = scopes[scopes.length - 1];
  for (const tensor of scope) {
    if (returned.has(tensor)) parent?.add(tensor);
    else tensor.dispose();
  }
  return result;
}

/** Excludes a tensor from disposal by the enclosing `tidy` scopes. */
export function keep<T extends Tensor>(tensor: T): T {
  for (const scope of scopes) scope.delete(tensor);
  return tensor;
}

function collectTensors(value: unknown, found = new Set<Tensor>()): Set<Tensor> {
  if (value instanceof Tensor) found.add(value);
  else if (Array.isArray(value)) value.forEach((item) => collectTensors(item, found));
  else if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    Object.values(value).forEach((item) => collectTensors(item, found));
  }
  return found;
}

/** Returns the backend that all inputs share, and throws when they live on different backends. */
function commonBackend(opName: string, inputs: Tensor[]): Backend {
  const first = inputs[0].storage(opName).backend;
  for (const tensor of inputs) {
    const backend = tensor.storage(opName).backend;
    if (backend !== first) {
      throw new ShapeError(`${opName}: inputs live on different backends (${first.name} and ${backend.name}); move them with toBackend() first`);
    }
  }
  return first;
}

/**
 * Runs `def` on `inputs`, which must share one backend (`backendName` picks it for ops without
 * inputs). Records the op on the tape when a gradient can flow through it.
 */
export function runOp<A>(def: OpDef<A>, inputs: Tensor[], attrs: A, backendName?: BackendName): Tensor[] {
  const backend = inputs.length > 0 ? commonBackend(def.name, inputs) : getBackend(backendName);
  const handles = inputs.map((tensor) => tensor.storage(def.name));
  const inputSpecs: TensorSpec[] = inputs.map((tensor) => ({ shape: tensor.shape, dtype: tensor.dtype }));
  const outputSpecs = def.shape(inputSpecs, attrs);

  const outputHandles = backend.run(def, handles, inputSpecs, outputSpecs, attrs);
  const outputs = outputHandles.map((handle, i) => new Tensor(handle, [...outputSpecs[i].shape], outputSpecs[i].dtype));

  const backward = def.backward;
  if (isGradEnabled() && typeof backward === 'function' && inputs.some((tensor) => tensor.requiresGrad)) {
    const needsInputGrad = inputs.map((tensor) => tensor.requiresGrad);
    const node = recordNode(def.name, inputs, outputs, (savedInputs, savedOutputs, grads) =>
      backward({ inputs: savedInputs, outputs: savedOutputs, grads, attrs, needsInputGrad }),
    );
    outputs.forEach((tensor, i) => {
      if (tensor.dtype === 'f32') {
        tensor.requiresGrad = true;
        tensor.node = node;
        tensor.outputIndex = i;
      }
    });
  } else if (isGradEnabled()) {
    // No gradient flows to the outputs: record the op that cut it, or pass on an earlier one.
    const cut = typeof backward !== 'function' && inputs.some((tensor) => tensor.requiresGrad) ? { op: def.name, reason: backward.notDifferentiable } : null;
    const stopped = cut ?? inputs.find((tensor) => tensor.gradientStoppedBy !== null)?.gradientStoppedBy ?? null;
    if (stopped !== null) for (const tensor of outputs) tensor.gradientStoppedBy = stopped;
  }
  return outputs;
}

function recordNode(opName: string, inputs: Tensor[], outputs: Tensor[], backward: TapeNode['backward']): TapeNode {
  const saved = [...inputs, ...outputs].map((tensor) => tensor.storage(opName));
  saved.forEach(retainHandle);
  return {
    opName,
    inputs,
    saved,
    savedSpecs: [...inputs, ...outputs].map((tensor) => ({ shape: tensor.shape, dtype: tensor.dtype })),
    outputCount: outputs.length,
    backward,
    released: false,
  };
}

/** Creates a tensor over existing storage, such as a reshaped view, with its own reference. */
export function viewOf(tensor: Tensor, shape: number[]): Tensor {
  return new Tensor(tensor.storage('view'), shape, tensor.dtype);
}

function reshape(tensor: Tensor, shape: number[]): Tensor {
  const resolved = resolveReshape(tensor, shape);
  const view = viewOf(tensor, resolved);
  if (isGradEnabled() && tensor.requiresGrad) {
    const original = [...tensor.shape];
    view.requiresGrad = true;
    view.node = recordNode('reshape', [tensor], [view], (_inputs, _outputs, grads) => [grads[0] === null ? null : grads[0].reshape(original)]);
  }
  return view;
}

function resolveReshape(tensor: Tensor, shape: number[]): number[] {
  const inferred = shape.filter((dim) => dim === -1).length;
  if (inferred > 1) throw new ShapeError(`reshape: shape ${formatShape(shape)} has more than one -1`);

  const known = sizeOf(shape.filter((dim) => dim !== -1));
  const resolved = shape.map((dim) => (dim === -1 ? (known === 0 ? 0 : tensor.size / known) : dim));
  assertValidShape(resolved, 'reshape');
  if (sizeOf(resolved) !== tensor.size) {
    throw new ShapeError(`reshape: cannot reshape ${formatShape(tensor.shape)} (${tensor.size} elements) to ${formatShape(shape)}`);
  }
  return resolved;
}

installTensorHooks({
  onCreate(tensor) {
    scopes[scopes.length - 1]?.add(tensor);
  },
  backward() {
    throw new Error('sparrow: backward() is not loaded; import from the package entry point');
  },
  reshape,
});

/** Lets the autograd layer provide backward() without this layer importing it. */
export function installBackward(backward: (tensor: Tensor, grad: Tensor | undefined, options: { retainGraph?: boolean }) => void): void {
  installTensorHooks({ onCreate: (tensor) => scopes[scopes.length - 1]?.add(tensor), backward, reshape });
}

/** Returns a tensor over the same storage that is cut off from the tape, so no gradient flows through it. */
export function detach(tensor: Tensor): Tensor {
  return viewOf(tensor, [...tensor.shape]);
}

/** Reshapes a tensor that the caller owns and no longer needs, releasing the caller's reference. */
export function reshapeOwned(tensor: Tensor, shape: number[]): Tensor {
  const view = tensor.reshape(shape);
  tensor.dispose();
  return view;
}
