// A small builder for ONNX graphs: nodes, initializers, inputs and outputs, encoded with onnx-proto.

import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** Operator set of the default ONNX domain that the exporter writes; the tests run it on onnxruntime 1.31. */
export const ONNX_OPSET = 17;

/** IR version of ONNX 1.12, the release that introduced opset 17 (ONNX's docs/Versioning.md table). */
export const ONNX_IR_VERSION = 8;

/** Element types of graph inputs, outputs and initializers that the exporter writes. */
export type OnnxDType = 'float32' | 'int64' | 'bool';

const DATA_TYPES: Record<OnnxDType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** A dimension: a fixed size, or a symbolic name such as "batch" that the caller chooses at run time. */
export type OnnxDim = number | string;

/** Attribute values: a number is written as INT when it is an integer, else as FLOAT; use `{ float }` to force FLOAT. */
export type OnnxAttribute = number | { float: number } | number[] | { tensor: OnnxConstant };

/** A constant tensor in host memory. */
export interface OnnxConstant {
  dtype: OnnxDType;
  dims: number[];
  /** Float32Array for float32, BigInt64Array for int64, Uint8Array of 0 and 1 for bool. */
  data: Float32Array | BigInt64Array | Uint8Array;
}

/** Collects the nodes of one graph in topological order, as they are added. */
export class OnnxGraph {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly names = new Set<string>();
  private readonly nodeCounts = new Map<string, number>();
  private initializerBytes = 0;

  /** Declares a graph input. */
  addInput(name: string, dtype: OnnxDType, dims: OnnxDim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, dtype, dims));
    return name;
  }

  /** Declares a graph output; `name` must already be produced by a node (see `rename`). */
  addOutput(name: string, dtype: OnnxDType, dims: OnnxDim[]): void {
    this.outputs.push(valueInfo(name, dtype, dims));
  }

  /** Adds a constant tensor (weights, indices) under `name` and returns the name. */
  addInitializer(name: string, constant: OnnxConstant): string {
    this.claim(name);
    this.initializers.push(tensorProto(name, constant));
    this.initializerBytes += constant.data.byteLength;
    return name;
  }

  /** Adds an f32 constant; a shorthand for `addInitializer`. */
  addFloats(name: string, dims: number[], values: ArrayLike<number>): string {
    return this.addInitializer(name, { dtype: 'float32', dims, data: Float32Array.from(values) });
  }

  /** Adds an int64 constant; a shorthand for `addInitializer`. */
  addInts(name: string, dims: number[], values: readonly number[]): string {
    return this.addInitializer(name, { dtype: 'int64', dims, data: BigInt64Array.from(values, (value) => BigInt(value)) });
  }

  /**
   * Adds one node and returns the names of its outputs. `scope` names the model part
   * (such as "deep/mlp/layer0"); outputs are called `scope/OpType` with a counter when
   * the scope repeats an operator.
   */
  node(opType: string, inputs: string[], scope: string, attributes: Record<string, OnnxAttribute> = {}, outputCount = 1): string[] {
    const base = `${scope}/${opType}`;
    const count = this.nodeCounts.get(base) ?? 0;
    this.nodeCounts.set(base, count + 1);
    const nodeName = count === 0 ? base : `${base}_${count}`;
    const outputs = Array.from({ length: outputCount }, (_, i) => (outputCount === 1 ? `${nodeName}:0` : `${nodeName}:${i}`));
    for (const output of outputs) this.claim(output);

    this.nodes.push(
      onnx.NodeProto.create({
        name: nodeName,
        opType,
        input: inputs,
        output: outputs,
        attribute: Object.entries(attributes).map(([name, value]) => attributeProto(name, value)),
      }),
    );
    return outputs;
  }

  /** Adds one node with a single output; the common case of `node`. */
  op(opType: string, inputs: string[], scope: string, attributes: Record<string, OnnxAttribute> = {}): string {
    return this.node(opType, inputs, scope, attributes)[0];
  }

  /** Gives the value `value` the name `name` through an Identity node, for graph outputs. */
  rename(value: string, name: string): string {
    this.claim(name);
    this.nodes.push(onnx.NodeProto.create({ name: `${name}/Identity`, opType: 'Identity', input: [value], output: [name] }));
    return name;
  }

  /** Bytes of every initializer so far. */
  get weightBytes(): number {
    return this.initializerBytes;
  }

  /** Encodes the graph as a complete ONNX model file. */
  encode(options: { graphName: string; docString: string; metadata: Record<string, string>; producerVersion: string }): Uint8Array {
    const graph = onnx.GraphProto.create({
      name: options.graphName,
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
    });
    const model = onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION,
      opsetImport: [{ domain: '', version: ONNX_OPSET }],
      producerName: 'sparrow',
      producerVersion: options.producerVersion,
      docString: options.docString,
      graph,
      metadataProps: Object.entries(options.metadata).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`OnnxGraph: the value name "${name}" is already used in the graph`);
    this.names.add(name);
  }
}

function valueInfo(name: string, dtype: OnnxDType, dims: OnnxDim[]): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: DATA_TYPES[dtype],
        shape: { dim: dims.map((dim) => (typeof dim === 'number' ? { dimValue: dim } : { dimParam: dim })) },
      },
    },
  });
}

/** Writes the values as raw little-endian bytes, which is how ONNX stores them in `raw_data`. */
function tensorProto(name: string, constant: OnnxConstant): InstanceType<typeof onnx.TensorProto> {
  const expected = constant.dims.reduce((product, dim) => product * dim, 1);
  if (constant.data.length !== expected) {
    throw new Error(`OnnxGraph: constant "${name}" has ${constant.data.length} values but dims [${constant.dims.join(', ')}] need ${expected}`);
  }
  return onnx.TensorProto.create({
    name,
    dims: constant.dims,
    dataType: DATA_TYPES[constant.dtype],
    rawData: littleEndianBytes(constant.data),
  });
}

function attributeProto(name: string, value: OnnxAttribute): InstanceType<typeof onnx.AttributeProto> {
  const types = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') {
    return Number.isInteger(value) ? onnx.AttributeProto.create({ name, type: types.INT, i: value }) : onnx.AttributeProto.create({ name, type: types.FLOAT, f: value });
  }
  if (Array.isArray(value)) return onnx.AttributeProto.create({ name, type: types.INTS, ints: value });
  if ('float' in value) return onnx.AttributeProto.create({ name, type: types.FLOAT, f: value.float });
  return onnx.AttributeProto.create({ name, type: types.TENSOR, t: tensorProto(`${name}_value`, value.tensor) });
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function littleEndianBytes(data: Float32Array | BigInt64Array | Uint8Array): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_IS_LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1) return bytes;
  const swapped = bytes.slice();
  for (let i = 0; i < swapped.length; i += data.BYTES_PER_ELEMENT) swapped.subarray(i, i + data.BYTES_PER_ELEMENT).reverse();
  return swapped;
}
