// Typed errors of the exporters.

/** A layer, setting or model that the ONNX exporter cannot write; the message names the layer and what to do. */
export class OnnxExportError extends Error {
  override name = 'OnnxExportError';

  constructor(
    /** Dotted path of the layer in the model (such as "deep.mlp.norm0"), when the problem belongs to one. */
    readonly layer: string | undefined,
    problem: string,
  ) {
    super(`onnx export: ${layer === undefined ? '' : `layer "${layer}": `}${problem}`);
  }
}
