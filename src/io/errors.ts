// Typed errors of the checkpoint layer; each message starts with the file and, where there is one, the tensor.

/** A safetensors file or buffer that is invalid, or tensors that cannot be written as one. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';

  constructor(
    /** The file path, or a label for an in-memory buffer. */
    readonly source: string,
    /** The tensor concerned, when the problem belongs to one. */
    readonly tensor: string | undefined,
    problem: string,
  ) {
    super(`${source}: ${tensor === undefined ? '' : `tensor ${JSON.stringify(tensor)}: `}${problem}`);
  }
}

/** A checkpoint directory that is missing, incomplete, of another format version, or inconsistent. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';

  constructor(
    /** The file or directory concerned. */
    readonly path: string,
    problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}
