// Element types of tensors and their typed-array storage.

export type DType = 'f32' | 'i32' | 'u32';

export const DTYPES: readonly DType[] = ['f32', 'i32', 'u32'];

export type TypedArray = Float32Array | Float64Array | Int32Array | Uint32Array;

/** The WGSL scalar type that stores a dtype. */
export function wgslType(dtype: DType): string {
  return dtype;
}

export function isDType(value: unknown): value is DType {
  return value === 'f32' || value === 'i32' || value === 'u32';
}
