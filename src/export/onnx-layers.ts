// ONNX nodes for Sparrow's serving layers: padded embedding bags, Linear, MLP, embedded inputs and the wide part.

import type { BatchLayout, FieldLayout } from '../data/batch.js';
import type { FieldGroup } from '../models/inputs.js';
import type { WideLinear } from '../models/wide-deep.js';
import { Dropout, Linear, type MLP } from '../nn/layers.js';
import type { ShardedTable } from '../sparse/sharded-table.js';
import { OnnxExportError } from './errors.js';
import { OnnxGraph } from './onnx-graph.js';
import { BATCH_DIM, type OnnxInputSpec } from './onnx-inputs.js';

/** Slope of leakyRelu for negative inputs in Sparrow's Linear layers (the default of `linear`). */
const LEAKY_RELU_ALPHA = 0.01;

/** The deep input of a model part: embedded field groups and numeric columns (DeepTower, EmbeddedInput). */
export interface EmbeddedFeatures {
  groups: FieldGroup[];
  tables: ShardedTable[];
  /** Indices into the layout's numeric columns. */
  numericColumns: number[];
}

/** Per-field values that every use of the field shares: the ids to gather and the per-slot weights. */
interface FieldValues {
  /** int64 [B, L]: the ids with padding replaced by 0, so Gather never reads out of range. */
  safeIds: string;
  /** float32 [B, L]: 1 at real ids, 0 at padding. */
  mask: string;
  /** float32 [B, L, 1]: 1 (or the id's weight) at real ids, 0 at padding. */
  slotWeights: string;
  /** float32 [B, 1]: the number of real ids of each bag, at least 1, the divisor of mean. */
  meanDivisor?: string;
  layout: FieldLayout;
}

/**
 * The serving graph under construction: its inputs (declared up front, in layout order) and
 * the emitters of each layer. Weights are read back from the model's tensors as they are
 * added, so the emitters are async.
 */
export class ServingGraph {
  readonly graph = new OnnxGraph();
  readonly inputs: OnnxInputSpec[] = [];
  private readonly idsInputs = new Map<string, { ids: string; weights?: string; layout: FieldLayout }>();
  private readonly fieldValues = new Map<string, FieldValues>();
  private readonly constants = new Map<string, string>();
  private readonly numericInput: string | null;
  /** Layout indices of the numeric columns of the `numeric` input, in input order. */
  private readonly numericInputColumns: number[];

  /** Declares an ids input (and a weights input for weighted fields) per field, and one numeric input. */
  constructor(
    readonly layout: BatchLayout,
    fields: ReadonlySet<string>,
    numericColumns: ReadonlySet<number>,
  ) {
    for (const field of layout.fields) {
      if (!fields.has(field.name)) continue;
      const lengthDim = `${field.name}_len`;
      const ids = this.graph.addInput(`${field.name}_ids`, 'int64', [BATCH_DIM, lengthDim]);
      this.inputs.push({ name: ids, kind: 'ids', dtype: 'int64', shape: [BATCH_DIM, lengthDim], field: field.name, vocabularySize: field.vocabularySize });
      let weights: string | undefined;
      if (field.weighted) {
        weights = this.graph.addInput(`${field.name}_weights`, 'float32', [BATCH_DIM, lengthDim]);
        this.inputs.push({ name: weights, kind: 'weights', dtype: 'float32', shape: [BATCH_DIM, lengthDim], field: field.name });
      }
      this.idsInputs.set(field.name, { ids, weights, layout: field });
    }

    this.numericInputColumns = [...numericColumns].sort((a, b) => a - b);
    if (this.numericInputColumns.length > 0) {
      const columns = this.numericInputColumns.map((column) => layout.numeric[column].name);
      this.numericInput = this.graph.addInput('numeric', 'float32', [BATCH_DIM, columns.length]);
      this.inputs.push({ name: 'numeric', kind: 'numeric', dtype: 'float32', shape: [BATCH_DIM, columns.length], columns });
    } else {
      this.numericInput = null;
    }
  }

  /** Returns a 1-D int64 constant, shared between the nodes that use the same values. */
  ints(values: readonly number[]): string {
    const key = `i64:${values.join(',')}`;
    let name = this.constants.get(key);
    if (name === undefined) {
      name = this.graph.addInts(`const/int64[${values.join(',')}]`, [values.length], values);
      this.constants.set(key, name);
    }
    return name;
  }

  /** Returns a float32 scalar constant, shared between the nodes that use the same value. */
  scalar(value: number): string {
    const key = `f32:${value}`;
    let name = this.constants.get(key);
    if (name === undefined) {
      name = this.graph.addFloats(`const/float32(${value})`, [], [value]);
      this.constants.set(key, name);
    }
    return name;
  }

  /**
   * Adds `act(x W + b)` of a Linear layer: Gemm with a bias, MatMul without, then the
   * activation. `path` is the layer's dotted name in the model, which names its weights.
   */
  async linear(layer: Linear, x: string, path: string): Promise<string> {
    const scope = path.replaceAll('.', '/');
    const weight = this.graph.addFloats(`${path}.weight`, [layer.inFeatures, layer.outFeatures], await layer.weight.data());
    let y: string;
    if (layer.bias) {
      const bias = this.graph.addFloats(`${path}.bias`, [layer.outFeatures], await layer.bias.data());
      y = this.graph.op('Gemm', [x, weight, bias], scope);
    } else {
      y = this.graph.op('MatMul', [x, weight], scope);
    }

    switch (layer.activation) {
      case 'none':
        return y;
      case 'relu':
        return this.graph.op('Relu', [y], scope);
      case 'leakyRelu':
        return this.graph.op('LeakyRelu', [y], scope, { alpha: { float: LEAKY_RELU_ALPHA } });
      case 'sigmoid':
        return this.graph.op('Sigmoid', [y], scope);
      case 'tanh':
        return this.graph.op('Tanh', [y], scope);
    }
  }

  /**
   * Adds an MLP: its layers in registration order, which is the order `forward` runs them.
   * Dropout is the identity at serving. Any other layer (LayerNorm, BatchNorm) is rejected,
   * because an MLP with normalization applies its activation after the norm without
   * recording which one, so the graph could not reproduce it.
   */
  async mlp(mlp: MLP, x: string, path: string): Promise<string> {
    let current = x;
    for (const [name, layer] of mlp.namedModules()) {
      if (name === '' || name.includes('.')) continue;
      const layerPath = `${path}.${name}`;
      if (layer instanceof Linear) current = await this.linear(layer, current, layerPath);
      else if (!(layer instanceof Dropout)) {
        throw new OnnxExportError(
          layerPath,
          `${layer.constructor.name} is not supported; the ONNX exporter handles MLPs made of Linear and Dropout layers, which is what sparrow train builds. ` +
            'Train the model without normalization layers, or add an emitter for this layer to src/export/onnx-layers.ts',
        );
      }
    }
    return current;
  }

  /**
   * Adds the embedded input of a model part: each group's fields pooled from their tables,
   * then the part's numeric columns, concatenated as float32 [B, width]. The order is that of
   * DeepTower and EmbeddedInput: groups in order, fields within a group, then numbers.
   */
  async embeddedFeatures(part: EmbeddedFeatures, path: string): Promise<string> {
    const scope = path.replaceAll('.', '/');
    const columns: string[] = [];
    for (const [g, group] of part.groups.entries()) {
      const table = await part.tables[g].data();
      for (const [f, field] of group.fields.entries()) {
        const rows = group.layout.fields[f].rows;
        const start = group.layout.rowStarts[f];
        const slice = this.graph.addFloats(`${path}.embedding${g}/${field.name}`, [rows, group.dim], table.subarray(start * group.dim, (start + rows) * group.dim));
        columns.push(this.bag(field.name, slice, group.pooling, `${scope}/${field.name}`));
      }
    }
    if (part.numericColumns.length > 0) columns.push(this.numericColumns(part.numericColumns, scope));
    return columns.length === 1 ? columns[0] : this.graph.op('Concat', columns, scope, { axis: 1 });
  }

  /**
   * Adds the wide part's logits: per-field sums of the task weights of each id, the bias, and
   * the weights of the wide numeric columns. Returns float32 [B, tasks], or the bias [tasks]
   * alone when the part has neither fields nor numeric columns.
   */
  async wideLogits(wide: WideLinear, path: string): Promise<string> {
    const scope = path.replaceAll('.', '/');
    const tasks = wide.bias.shape[0];
    const terms: string[] = [];
    if (wide.group && wide.table) {
      const table = await wide.table.data();
      for (const [f, field] of wide.group.fields.entries()) {
        const rows = wide.group.layout.fields[f].rows;
        const start = wide.group.layout.rowStarts[f];
        const slice = this.graph.addFloats(`${path}.table/${field.name}`, [rows, tasks], table.subarray(start * tasks, (start + rows) * tasks));
        terms.push(this.bag(field.name, slice, 'sum', `${scope}/${field.name}`));
      }
    }

    const bias = this.graph.addFloats(`${path}.bias`, [tasks], await wide.bias.data());
    let logits = bias;
    if (terms.length > 0) {
      const fieldSum = terms.length === 1 ? terms[0] : this.graph.op('Sum', terms, scope);
      logits = this.graph.op('Add', [fieldSum, bias], scope);
    }
    if (wide.numeric) {
      const numbers = this.numericColumns(wide.numericColumns, scope);
      logits = this.graph.op('Add', [await this.linear(wide.numeric, numbers, `${path}.numeric`), logits], scope);
    }
    return logits;
  }

  /**
   * Adds one embedding bag over a padded ids input and returns float32 [B, D]. It gathers the
   * rows of `table` (one field's table, [vocabulary, D]) and weights each slot: 0 at padding,
   * the id's weight for weighted fields, else 1. Then it sums over the bag. `mean` divides by
   * the number of real ids, at least 1, so an empty bag gives zeros as in Sparrow.
   */
  bag(fieldName: string, table: string, pooling: 'sum' | 'mean', scope: string): string {
    const values = this.fieldValuesOf(fieldName);
    if (values.layout.weighted && pooling !== 'sum') {
      throw new OnnxExportError(undefined, `field "${fieldName}" has per-id weights but pools by ${pooling}; Sparrow applies weights with sum pooling only, so set its combiner to sum`);
    }

    const rows = this.graph.op('Gather', [table, values.safeIds], scope, { axis: 0 });
    const weighted = this.graph.op('Mul', [rows, values.slotWeights], scope);
    const pooled = this.graph.op('ReduceSum', [weighted, this.ints([1])], scope, { keepdims: 0 });
    if (pooling === 'sum') return pooled;
    return this.graph.op('Div', [pooled, this.meanDivisorOf(fieldName, values)], scope);
  }

  /** Selects the given layout numeric columns of the `numeric` input, as float32 [B, columns]. */
  numericColumns(columns: number[], scope: string): string {
    if (this.numericInput === null) throw new Error('ServingGraph: the graph has no numeric input; list the columns in the constructor');
    const positions = columns.map((column) => {
      const position = this.numericInputColumns.indexOf(column);
      if (position < 0) throw new Error(`ServingGraph: numeric column ${column} is not an input column; list it in the constructor`);
      return position;
    });
    const identity = positions.length === this.numericInputColumns.length && positions.every((position, i) => position === i);
    if (identity) return this.numericInput;
    return this.graph.op('Gather', [this.numericInput, this.ints(positions)], scope, { axis: 1 });
  }

  private fieldValuesOf(fieldName: string): FieldValues {
    const cached = this.fieldValues.get(fieldName);
    if (cached) return cached;
    const input = this.idsInputs.get(fieldName);
    if (input === undefined) throw new Error(`ServingGraph: field "${fieldName}" is not an input; list it in the constructor`);

    const scope = `inputs/${fieldName}`;
    const real = this.graph.op('GreaterOrEqual', [input.ids, this.ints([0])], scope);
    const safeIds = this.graph.op('Where', [real, input.ids, this.ints([0])], scope);
    const mask = this.graph.op('Cast', [real], scope, { to: 1 });
    const perSlot = input.weights ? this.graph.op('Mul', [mask, input.weights], scope) : mask;
    const slotWeights = this.graph.op('Unsqueeze', [perSlot, this.ints([2])], scope);
    const values: FieldValues = { safeIds, mask, slotWeights, layout: input.layout };
    this.fieldValues.set(fieldName, values);
    return values;
  }

  private meanDivisorOf(fieldName: string, values: FieldValues): string {
    if (values.meanDivisor) return values.meanDivisor;
    const scope = `inputs/${fieldName}`;
    const count = this.graph.op('ReduceSum', [values.mask, this.ints([1])], scope, { keepdims: 1 });
    values.meanDivisor = this.graph.op('Max', [count, this.scalar(1)], scope);
    return values.meanDivisor;
  }
}
