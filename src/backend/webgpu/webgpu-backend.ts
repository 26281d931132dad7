// The WebGPU backend: pooled buffers, cached pipelines, batched submits and captured errors.

import { isCpuAdapter, type AdapterDescription, type Backend, type DataHandle, type MemoryInfo } from '../backend.js';
import type { KernelLimits, OpDef, TensorSpec } from '../../ops/op.js';
import type { KernelPass, KernelProgram } from '../../kernels/pass.js';
import type { DType, TypedArray } from '../../tensor/dtype.js';
import { formatShape, sizeOf } from '../../tensor/shape.js';
import { DeviceLostError, KernelError } from '../../errors.js';
import { debugLevel, debugLog } from '../../debug.js';
import { BufferPool } from './buffer-pool.js';
import type { FoundAdapter } from './discovery.js';

export interface GpuHandle extends DataHandle {
  buffer: GPUBuffer | null;
  byteLength: number;
}

interface PipelineEntry {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Formatted compiler errors, filled in when the compilation info arrives. */
  compileErrors: string | null;
}

/** Command buffers are submitted after this many ops even without a sync point. */
const OPS_PER_SUBMIT = 32;
/** Released buffers are recycled after a submit; this bounds the bytes waiting for one. */
const MAX_PENDING_RELEASE_BYTES = 256 * 1024 * 1024;

// WebGPU's flag values, written out because Dawn's globals exist only after it loads.
const BUFFER_USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
const SHADER_STAGE_COMPUTE = 0x4;
const MAP_MODE_READ = 0x1;
const STORAGE_USAGE = BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC | BUFFER_USAGE.COPY_DST;
const UNIFORM_USAGE = BUFFER_USAGE.UNIFORM | BUFFER_USAGE.COPY_DST;

/** Adapter limits that Sparrow requests from the device at the adapter's maximum. */
const REQUESTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxUniformBufferBindingSize',
  'maxBindGroups',
  'maxBindingsPerBindGroup',
] as const;

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly limits: Record<string, number>;
  readonly kernelLimits: KernelLimits;
  readonly features: ReadonlySet<string>;
  /** Whether the adapter runs shaders on the CPU (see `isCpuAdapter`); kernels may pick their layout by it. */
  readonly cpuAdapter: boolean;

  private readonly storagePool: BufferPool;
  private readonly uniformPool: BufferPool;
  private readonly pipelines = new Map<string, PipelineEntry>();
  private pending: GPUCommandBuffer[] = [];
  private errorChecks: Promise<string[]>[] = [];
  private uncaptured: string[] = [];
  private lostMessage: string | null = null;
  private tensorBytes = 0;
  private peakTensorBytes = 0;

  private constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterDescription,
    /**
     * The Dawn instance. Held for the device's lifetime: if it or the adapter were
     * garbage-collected, Dawn would destroy them under a live device and crash the process.
     */
    readonly gpu: GPU,
    /** Held for the same reason as `gpu`. */
    readonly gpuAdapter: GPUAdapter,
  ) {
    this.storagePool = new BufferPool(device, STORAGE_USAGE, 'sparrow-storage');
    this.uniformPool = new BufferPool(device, UNIFORM_USAGE, 'sparrow-uniform');
    this.limits = Object.fromEntries(REQUESTED_LIMITS.map((key) => [key, Number(device.limits[key])]));
    this.kernelLimits = {
      maxComputeInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: device.limits.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: device.limits.maxComputeWorkgroupSizeY,
      maxComputeWorkgroupSizeZ: device.limits.maxComputeWorkgroupSizeZ,
      maxComputeWorkgroupStorageSize: device.limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      maxStorageBuffersPerShaderStage: device.limits.maxStorageBuffersPerShaderStage,
    };
    this.features = new Set(device.features as unknown as Iterable<string>);
    this.cpuAdapter = isCpuAdapter(adapter);

    device.lost.then((info) => {
      this.lostMessage = `webgpu: device lost (${info.reason}): ${info.message || 'no message'}`;
    });
    device.addEventListener('uncapturederror', (event) => {
      this.uncaptured.push((event as GPUUncapturedErrorEvent).error.message);
    });
  }

  /** Creates the device with the adapter's higher limits. */
  static async create(found: FoundAdapter): Promise<WebGPUBackend> {
    const { adapter } = found;
    const requiredLimits: Record<string, number> = {};
    for (const key of REQUESTED_LIMITS) requiredLimits[key] = Number(adapter.limits[key]);

    const requiredFeatures = (['subgroups', 'timestamp-query'] as GPUFeatureName[]).filter((name) => adapter.features.has(name));
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'sparrow' });
    const info = adapter.info;
    const description: AdapterDescription = {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      featureLevel: adapter.features.has('core-features-and-limits') ? 'core' : 'compatibility',
      dawnBackend: found.dawnBackend,
    };
    debugLog(1, `webgpu: device on ${description.description || description.vendor} (${description.featureLevel})`);
    return new WebGPUBackend(device, description, found.gpu, found.adapter);
  }

  upload(values: ArrayLike<number>, dtype: DType): DataHandle {
    this.assertAlive('upload');
    const data = toTypedArray(values, dtype);
    const handle = this.allocate(dtype, data.length);
    if (data.byteLength > 0) this.device.queue.writeBuffer(handle.buffer!, 0, data.buffer, data.byteOffset, data.byteLength);
    return handle;
  }

  write(handle: DataHandle, values: ArrayLike<number>): void {
    this.assertAlive('write');
    const gpuHandle = handle as GpuHandle;
    if (gpuHandle.buffer === null) throw new Error('webgpu backend: write to released storage');
    if (values.length !== gpuHandle.size) {
      throw new RangeError(`write: ${values.length} values do not match the ${gpuHandle.size} elements of the storage`);
    }
    // Commands already encoded must read the old values: submit them before the queue write.
    this.flush();
    const data = toTypedArray(values, handle.dtype);
    if (data.byteLength > 0) this.device.queue.writeBuffer(gpuHandle.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  run<A>(def: OpDef<A>, inputs: DataHandle[], inputSpecs: TensorSpec[], outputSpecs: TensorSpec[], attrs: A): DataHandle[] {
    this.assertAlive(def.name);
    const program = def.webgpu({ inputSpecs, outputSpecs, attrs, limits: this.kernelLimits, features: this.features, cpuAdapter: this.cpuAdapter });
    const outputs = outputSpecs.map((spec) => this.allocate(spec.dtype, sizeOf(spec.shape)));
    const temps = (program.temps ?? []).map((spec) => this.allocate(spec.dtype, spec.size));
    const describe = () => describeCall(def, inputSpecs, attrs);

    this.encodeProgram(program, inputs as GpuHandle[], outputs, temps, describe);

    for (const handle of temps) this.releaseBuffer(handle);
    if (debugLevel() >= 3) this.logOpTime(describe());
    else if (this.pending.length >= OPS_PER_SUBMIT || this.storagePool.pendingBytes() > MAX_PENDING_RELEASE_BYTES) this.flush();
    return outputs;
  }

  async read(handle: DataHandle): Promise<TypedArray> {
    this.assertAlive('read');
    const gpuHandle = handle as GpuHandle;
    if (gpuHandle.buffer === null) throw new Error('webgpu backend: read of released storage');
    if (gpuHandle.byteLength === 0) return toTypedArray([], handle.dtype);

    const staging = this.device.createBuffer({
      size: gpuHandle.byteLength,
      usage: BUFFER_USAGE.MAP_READ | BUFFER_USAGE.COPY_DST,
      label: 'sparrow-readback',
    });
    const encoder = this.device.createCommandEncoder({ label: 'readback' });
    encoder.copyBufferToBuffer(gpuHandle.buffer, 0, staging, 0, gpuHandle.byteLength);
    this.pending.push(encoder.finish());
    this.flush();

    try {
      await staging.mapAsync(MAP_MODE_READ);
      await this.throwReportedErrors();
      const bytes = staging.getMappedRange().slice(0);
      staging.unmap();
      return typedArrayOver(bytes, handle.dtype);
    } finally {
      staging.destroy();
    }
  }

  release(handle: DataHandle): void {
    this.releaseBuffer(handle as GpuHandle);
  }

  async sync(): Promise<void> {
    this.assertAlive('sync');
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.throwReportedErrors();
  }

  memory(): MemoryInfo {
    return {
      allocatedBytes: this.storagePool.allocatedBytes + this.uniformPool.allocatedBytes,
      peakAllocatedBytes: this.storagePool.peakAllocatedBytes + this.uniformPool.peakAllocatedBytes,
      tensorBytes: this.tensorBytes,
      peakTensorBytes: this.peakTensorBytes,
    };
  }

  /** Destroys the pool's free buffers (buffers that tensors hold stay). */
  emptyCache(): void {
    this.flush();
    this.storagePool.emptyCache();
    this.uniformPool.emptyCache();
  }

  /** Destroys the device; later use of this backend throws DeviceLostError. */
  destroy(): void {
    this.pending = [];
    this.lostMessage = 'webgpu: the device was destroyed';
    this.device.destroy();
  }

  /**
   * SPARROW_DEBUG=3: submits each op alone and logs how long the submit took. On Dawn's
   * OpenGL ES backend the submit runs the dispatches (llvmpipe executes them on this thread),
   * so this is the op's execution time there; on Vulkan it is only the submission cost.
   */
  private logOpTime(description: string): void {
    const start = performance.now();
    this.flush();
    debugLog(3, `time ${description}: ${(performance.now() - start).toFixed(3)} ms`);
  }

  /** Submits the command buffers encoded since the last submit. */
  flush(): void {
    if (this.pending.length > 0) {
      this.device.queue.submit(this.pending);
      this.pending = [];
    }
    this.storagePool.onSubmitted();
    this.uniformPool.onSubmitted();
  }

  private encodeProgram(program: KernelProgram, inputs: GpuHandle[], outputs: GpuHandle[], temps: GpuHandle[], describe: () => string): void {
    for (const pass of program.passes) this.checkPassLimits(pass, describe);

    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    const encoder = this.device.createCommandEncoder({ label: program.passes[0]?.label ?? 'empty' });
    const compileErrors: (() => string | null)[] = [];
    try {
      this.encodePasses(program, encoder, inputs, outputs, temps, describe, compileErrors);
    } catch (error) {
      // Keep the error-scope stack balanced for later ops before the error propagates.
      void this.device.popErrorScope();
      void this.device.popErrorScope();
      throw error;
    }
    this.pending.push(encoder.finish());

    const validation = this.device.popErrorScope();
    const outOfMemory = this.device.popErrorScope();
    this.errorChecks.push(
      Promise.all([validation, outOfMemory]).then((errors) => {
        const messages: string[] = [];
        for (const error of errors) {
          if (error === null) continue;
          const compile = compileErrors.map((get) => get()).filter((text): text is string => text !== null);
          const kind = error.constructor.name === 'GPUOutOfMemoryError' ? 'out of memory' : 'validation error';
          messages.push(`${describe()}: WebGPU ${kind}: ${error.message}${compile.length > 0 ? `\n${compile.join('\n')}` : ''}`);
        }
        return messages;
      }),
    );
  }

  private encodePasses(
    program: KernelProgram,
    encoder: GPUCommandEncoder,
    inputs: GpuHandle[],
    outputs: GpuHandle[],
    temps: GpuHandle[],
    describe: () => string,
    compileErrors: (() => string | null)[],
  ): void {
    for (const pass of program.passes) {
      if (pass.dispatch.some((count) => count === 0)) continue;

      const entry = this.pipelineFor(pass, describe);
      compileErrors.push(() => entry.compileErrors);
      const entries: GPUBindGroupEntry[] = pass.buffers.map((ref, binding) => {
        const handles = { input: inputs, output: outputs, temp: temps }[ref.kind];
        const handle = handles[ref.index];
        if (handle === undefined || handle.buffer === null) {
          throw new KernelError(`${pass.label}: binding ${binding} refers to ${ref.kind} ${ref.index}, which does not exist (${describe()})`);
        }
        return { binding, resource: { buffer: handle.buffer, size: Math.max(4, handle.byteLength) } };
      });
      if (pass.uniforms) {
        const uniform = this.uniformPool.acquire(pass.uniforms.byteLength);
        this.device.queue.writeBuffer(uniform, 0, pass.uniforms);
        entries.push({ binding: pass.buffers.length, resource: { buffer: uniform, size: pass.uniforms.byteLength } });
        this.uniformPool.release(uniform);
      }

      const bindGroup = this.device.createBindGroup({ layout: entry.layout, entries, label: pass.label });
      const computePass = encoder.beginComputePass({ label: pass.label });
      computePass.setPipeline(entry.pipeline);
      computePass.setBindGroup(0, bindGroup);
      computePass.dispatchWorkgroups(pass.dispatch[0], pass.dispatch[1], pass.dispatch[2]);
      computePass.end();
      debugLog(1, `launch ${pass.label} grid ${pass.dispatch.join('x')}`);
    }
  }

  private checkPassLimits(pass: KernelPass, describe: () => string): void {
    const maxGroups = this.kernelLimits.maxComputeWorkgroupsPerDimension;
    if (pass.dispatch.some((count) => !Number.isInteger(count) || count < 0 || count > maxGroups)) {
      throw new KernelError(`${pass.label}: grid ${pass.dispatch.join(' x ')} exceeds the adapter's ${maxGroups} workgroups per dimension (${describe()})`);
    }
    const storageBindings = pass.buffers.length;
    if (storageBindings > this.kernelLimits.maxStorageBuffersPerShaderStage) {
      throw new KernelError(
        `${pass.label}: ${storageBindings} storage buffers exceed the adapter's limit of ${this.kernelLimits.maxStorageBuffersPerShaderStage} per shader stage (${describe()})`,
      );
    }
  }

  private pipelineFor(pass: KernelPass, describe: () => string): PipelineEntry {
    const cached = this.pipelines.get(pass.wgsl);
    if (cached) {
      if (cached.compileErrors !== null) throw new KernelError(`${describe()}: WGSL compilation failed:\n${cached.compileErrors}`);
      return cached;
    }

    if (debugLevel() >= 2) debugLog(2, `compile ${pass.label}:\n${pass.wgsl}`);
    const layoutEntries: GPUBindGroupLayoutEntry[] = pass.buffers.map((ref, binding) => ({
      binding,
      visibility: SHADER_STAGE_COMPUTE,
      buffer: { type: ref.access === 'read' ? 'read-only-storage' : 'storage' },
    }));
    if (pass.uniforms) {
      layoutEntries.push({ binding: pass.buffers.length, visibility: SHADER_STAGE_COMPUTE, buffer: { type: 'uniform' } });
    }
    const layout = this.device.createBindGroupLayout({ entries: layoutEntries, label: pass.label });
    const module = this.device.createShaderModule({ code: pass.wgsl, label: pass.label });
    const pipeline = this.device.createComputePipeline({
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
      label: pass.label,
    });

    const entry: PipelineEntry = { pipeline, layout, compileErrors: null };
    this.pipelines.set(pass.wgsl, entry);
    const compilation = module.getCompilationInfo().then((info) => {
      const text = formatCompilationErrors(info, pass.wgsl);
      if (text !== null) entry.compileErrors = text;
      return [] as string[];
    });
    this.errorChecks.push(compilation);
    return entry;
  }

  private async throwReportedErrors(): Promise<void> {
    const checks = this.errorChecks;
    this.errorChecks = [];
    const messages = (await Promise.all(checks)).flat();
    messages.push(...this.uncaptured.map((message) => `uncaptured WebGPU error: ${message}`));
    this.uncaptured = [];
    if (this.lostMessage !== null) throw new DeviceLostError(this.lostMessage);
    if (messages.length === 0) return;

    const more = messages.length > 1 ? `\n(and ${messages.length - 1} more error(s); the first is shown)` : '';
    throw new KernelError(`${messages[0]}${more}`);
  }

  private assertAlive(what: string): void {
    if (this.lostMessage !== null) throw new DeviceLostError(`${what}: ${this.lostMessage}`);
  }

  private allocate(dtype: DType, size: number): GpuHandle {
    const byteLength = size * 4;
    const maxBinding = this.kernelLimits.maxStorageBufferBindingSize;
    if (byteLength > maxBinding) {
      throw new KernelError(
        `webgpu: a tensor of ${size} ${dtype} elements (${byteLength} bytes) exceeds the adapter's maxStorageBufferBindingSize of ${maxBinding} bytes`,
      );
    }
    const buffer = this.storagePool.acquire(byteLength);
    this.tensorBytes += buffer.size;
    this.peakTensorBytes = Math.max(this.peakTensorBytes, this.tensorBytes);
    return { backend: this, dtype, size, refs: 0, buffer, byteLength };
  }

  private releaseBuffer(handle: GpuHandle): void {
    if (handle.buffer === null) return;
    this.tensorBytes -= handle.buffer.size;
    this.storagePool.release(handle.buffer);
    handle.buffer = null;
  }
}

function describeCall<A>(def: OpDef<A>, inputSpecs: TensorSpec[], attrs: A): string {
  const shapes = inputSpecs.map((spec) => `${spec.dtype}${formatShape(spec.shape)}`).join(', ');
  const attrText = def.describeAttrs ? def.describeAttrs(attrs) : JSON.stringify(attrs);
  return `${def.name}(${shapes}${attrText && attrText !== '{}' ? `; ${attrText}` : ''})`;
}

function formatCompilationErrors(info: GPUCompilationInfo, source: string): string | null {
  const errors = info.messages.filter((message) => message.type === 'error');
  if (errors.length === 0) return null;

  const lines = source.split('\n');
  return errors
    .map((message) => {
      const sourceLine = lines[message.lineNum - 1] ?? '';
      return `  WGSL ${message.lineNum}:${message.linePos}: ${message.message}\n    ${sourceLine}`;
    })
    .join('\n');
}

function toTypedArray(values: ArrayLike<number>, dtype: DType): Float32Array | Int32Array | Uint32Array {
  if (dtype === 'i32') return values instanceof Int32Array ? values : Int32Array.from(values);
  if (dtype === 'u32') return values instanceof Uint32Array ? values : Uint32Array.from(values);
  return values instanceof Float32Array ? values : Float32Array.from(values);
}

function typedArrayOver(bytes: ArrayBuffer, dtype: DType): TypedArray {
  if (dtype === 'i32') return new Int32Array(bytes);
  if (dtype === 'u32') return new Uint32Array(bytes);
  return new Float32Array(bytes);
}
