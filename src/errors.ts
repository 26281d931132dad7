// Typed errors that Sparrow throws; every message starts with the op, kernel or field it concerns.

/** Shapes that an op cannot accept, or a shape that does not fit the data. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** A dtype that an op does not accept, or two inputs whose dtypes differ. */
export class DTypeError extends Error {
  override name = 'DTypeError';
}

/** Use of a tensor after `dispose()`. */
export class DisposedError extends Error {
  override name = 'DisposedError';
}

/** A combination that Sparrow does not implement, such as a feature the adapter lacks. */
export class UnsupportedError extends Error {
  override name = 'UnsupportedError';
}

/** A WebGPU validation, out-of-memory or compilation error, naming the kernel and its shapes. */
export class KernelError extends Error {
  override name = 'KernelError';
}

/** The WebGPU device was lost; tensors on it can no longer be used. */
export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
}

/** No backend or adapter could be set up as requested. */
export class BackendError extends Error {
  override name = 'BackendError';
}
