// The engine: backend choice, tidy and dispose, the tape, and WebGPU error reporting.

import { describe, expect, test } from 'vitest';
import * as sp from '../src/index.js';
import { testBackends } from '../src/testing/index.js';

const backends = await testBackends();

describe('backend discovery', () => {
  test('adapter has the expected feature level', () => {
    const expected = process.env.SPARROW_EXPECT_FEATURE_LEVEL;
    if (expected === undefined) {
      expect(backends).toContain('cpu');
      return;
    }
    const webgpu = sp.getWebGPUBackend();
    expect(webgpu).not.toBeNull();
    expect(webgpu!.adapter.featureLevel).toBe(expected);
  });

  test('isCpuAdapter by adapter name', () => {
    const adapter = (device: string, description: string, architecture = ''): sp.AdapterDescription => ({
      vendor: '',
      architecture,
      device,
      description,
      featureLevel: 'core',
      dawnBackend: 'default',
    });
    expect(sp.isCpuAdapter(adapter('llvmpipe-llvm-15-0-6-256-bits-', 'OpenGL version OpenGL ES 3.2 Mesa 22.3.6'))).toBe(true);
    expect(sp.isCpuAdapter(adapter('swiftshader-device-subzero-', 'SwiftShader driver 5.0.0', 'swiftshader'))).toBe(true);
    expect(sp.isCpuAdapter(adapter('NVIDIA H200', 'NVIDIA: 550.54', 'hopper'))).toBe(false);
    // The adapters the tests run on are both software ones.
    const webgpu = sp.getWebGPUBackend();
    if (webgpu !== null) expect(webgpu.cpuAdapter).toBe(true);
  });

  test('init rejects invalid options', async () => {
    await expect(sp.init({ backend: 'gpu' as sp.BackendName })).rejects.toThrow('init: option backend: invalid value "gpu"; use auto, webgpu or cpu');
    await expect(sp.init({ adapter: 'metal2' as sp.AdapterChoice })).rejects.toThrow(
      'init: option adapter: invalid value "metal2"; use one of auto, default, opengles, vulkan, swiftshader',
    );
  });

  test('invalid backend names are rejected', () => {
    expect(() => sp.ones([2], { backend: 'gpu' as sp.BackendName })).toThrow('backend: invalid value "gpu"; use "cpu" or "webgpu"');
    const object = sp.getBackend('cpu') as unknown as sp.BackendName;
    expect(() => sp.ones([2], { backend: object })).toThrow(/use "cpu" or "webgpu" \(for a Backend object, pass its name: backend\.name\)/);
  });

  test('init keeps the first adapter', async () => {
    const webgpu = sp.getWebGPUBackend();
    if (webgpu === null) return;
    const other = webgpu.adapter.dawnBackend === 'opengles' ? 'swiftshader' : 'opengles';
    await expect(sp.init({ adapter: other })).rejects.toThrow(/already runs on the adapter/);
    expect(sp.getWebGPUBackend()).toBe(webgpu);
  });

  test('limits are raised to the adapter maximum', () => {
    const webgpu = sp.getWebGPUBackend();
    if (webgpu === null) return;
    // The WebGPU defaults for these limits are 8 storage buffers and 256 invocations.
    expect(webgpu.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
    expect(webgpu.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
  });
});

describe.each(backends)('engine on %s', (backend) => {
  test('tidy disposes intermediates and keeps the result', async () => {
    const x = sp.tensor([1, 2, 3], undefined, { backend });
    let intermediate: sp.Tensor | null = null;
    const result = sp.tidy(() => {
      intermediate = sp.mul(x, 2);
      return sp.add(intermediate, 1);
    });
    expect(intermediate!.isDisposed).toBe(true);
    expect(x.isDisposed).toBe(false);
    expect(Array.from(await result.data())).toEqual([3, 5, 7]);
  });

  test('keep survives tidy', () => {
    let kept: sp.Tensor | null = null;
    sp.tidy(() => {
      kept = sp.keep(sp.ones([2], { backend }));
      sp.zeros([2], { backend });
    });
    expect(kept!.isDisposed).toBe(false);
  });

  test('use after dispose throws', async () => {
    const x = sp.tensor([1, 2], undefined, { backend });
    x.dispose();
    expect(() => sp.neg(x)).toThrow(sp.DisposedError);
    await expect(x.data()).rejects.toThrow(/was disposed/);
  });

  test('gradient accumulates when a tensor is used twice', async () => {
    const x = sp.tensor([1, 2, 3], undefined, { backend, requiresGrad: true });
    // y = sum(x * x + x) => dy/dx = 2x + 1
    const y = sp.sum(sp.add(sp.mul(x, x), x));
    y.backward();
    expect(Array.from(await x.grad!.data())).toEqual([3, 5, 7]);
  });

  test('handed-on gradient has one owner', async () => {
    const a = sp.tensor([1, 2], undefined, { backend, requiresGrad: true });
    const b = sp.tensor([3, 4], undefined, { backend, requiresGrad: true });
    const before = sp.memory(backend).tensorBytes;
    // add hands its output gradient to both inputs, reshape to its one input.
    const loss = sp.tidy(() => sp.sum(sp.add(a, b).reshape([2, 1])));
    loss.backward();
    loss.dispose();
    expect(a.grad).not.toBe(b.grad);
    a.grad!.dispose();
    expect(Array.from(await b.grad!.data())).toEqual([1, 1]);
    b.grad!.dispose();
    // The two gradients were all that the step left.
    expect(sp.memory(backend).tensorBytes).toBe(before);
  });

  test('gradients add up over two backward calls', async () => {
    const x = sp.tensor([1, 2], undefined, { backend, requiresGrad: true });
    sp.sum(sp.mul(x, 3)).backward();
    sp.sum(sp.mul(x, 3)).backward();
    expect(Array.from(await x.grad!.data())).toEqual([6, 6]);
  });

  test('noGrad and detach stop the tape', () => {
    const x = sp.tensor([1, 2], undefined, { backend, requiresGrad: true });
    const y = sp.noGrad(() => sp.mul(x, 2));
    expect(y.requiresGrad).toBe(false);
    expect(y.node).toBeNull();
    const d = sp.detach(x);
    expect(d.requiresGrad).toBe(false);
    expect(sp.mul(d, 2).requiresGrad).toBe(false);
  });

  test('backward through a released graph throws', () => {
    const x = sp.tensor([1, 2], undefined, { backend, requiresGrad: true });
    const y = sp.sum(sp.exp(x));
    y.backward();
    expect(() => y.backward()).toThrow(/already released/);
  });

  test('backward keeps data that tidy disposed', async () => {
    const x = sp.tensor([0, 1], undefined, { backend, requiresGrad: true });
    const loss = sp.tidy(() => sp.sum(sp.exp(sp.mul(x, 2))));
    loss.backward();
    const grad = Array.from(await x.grad!.data());
    expect(grad[0]).toBeCloseTo(2, 5);
    expect(grad[1]).toBeCloseTo(2 * Math.exp(2), 4);
  });

  test('reshape is a differentiable view', async () => {
    const x = sp.tensor([1, 2, 3, 4, 5, 6], [6], { backend, requiresGrad: true });
    const y = x.reshape([2, -1]);
    expect(y.shape).toEqual([2, 3]);
    sp.sum(sp.mul(y, sp.tensor([1, 2, 3], undefined, { backend }))).backward();
    expect(Array.from(await x.grad!.data())).toEqual([1, 2, 3, 1, 2, 3]);
    expect(() => x.reshape([4, 2])).toThrow(/cannot reshape \[6\] \(6 elements\) to \[4, 2\]/);
  });

  test('creation validates shape and values', () => {
    expect(() => sp.tensor([1, 2, 3], [2, 2], { backend })).toThrow(/3 values do not fill shape \[2, 2\]/);
    expect(() => sp.tensor([1.5], [1], { backend, dtype: 'i32' })).toThrow(/value 1.5 at index 0 is not a valid i32/);
    expect(() => sp.zeros([2, -1], { backend })).toThrow(/invalid shape/);
    const f16 = 'f16' as sp.DType;
    expect(() => sp.tensor([1], [1], { backend, dtype: f16 })).toThrow(new sp.DTypeError('tensor: invalid dtype "f16"; use f32, i32 or u32'));
    expect(() => sp.ones([2], { backend, dtype: f16 })).toThrow(new sp.DTypeError('full: invalid dtype "f16"; use f32, i32 or u32'));
    expect(() => sp.cast(sp.ones([2], { backend }), f16)).toThrow(new sp.DTypeError('cast: invalid dtype "f16"; use f32, i32 or u32'));
  });

  test('seeded random values repeat for one seed', async () => {
    const a = await sp.randomNormal([64], { seed: 11, backend }).data();
    const b = await sp.randomNormal([64], { seed: 11, backend }).data();
    const c = await sp.randomNormal([64], { seed: 12, backend }).data();
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  test('memory tracks current and peak bytes', async () => {
    const before = sp.memory(backend).tensorBytes;
    const x = sp.zeros([1024], { backend });
    const during = sp.memory(backend);
    expect(during.tensorBytes).toBeGreaterThanOrEqual(before + 4096);
    expect(during.peakTensorBytes).toBeGreaterThanOrEqual(during.tensorBytes);
    x.dispose();
    expect(sp.memory(backend).tensorBytes).toBe(before);
  });
});

describe('random values', () => {
  test('uniform and normal agree across backends', async () => {
    if (!backends.includes('webgpu')) return;
    const size = 1000;
    const cpuUniform = await sp.randomUniform([size], { seed: 5, backend: 'cpu', low: -1, high: 3 }).data();
    const gpuUniform = await sp.randomUniform([size], { seed: 5, backend: 'webgpu', low: -1, high: 3 }).data();
    // The 24 random bits are identical; only the final f32 scaling may round differently.
    cpuUniform.forEach((value, i) => expect(Math.abs(gpuUniform[i] - value)).toBeLessThan(1e-6));

    const cpuNormal = await sp.randomNormal([size], { seed: 5, backend: 'cpu' }).data();
    const gpuNormal = await sp.randomNormal([size], { seed: 5, backend: 'webgpu' }).data();
    // WGSL allows cos an absolute error of 2^-11 on [-pi, pi], scaled here by the Box-Muller
    // radius, which is at most about 5.6 for 24-bit uniforms.
    cpuNormal.forEach((value, i) => expect(Math.abs(gpuNormal[i] - value)).toBeLessThan(2 ** -11 * 6));
    const mean = Array.from(cpuNormal).reduce((a, b) => a + b, 0) / size;
    expect(Math.abs(mean)).toBeLessThan(0.1);
  });
});

describe('WebGPU error reporting', () => {
  const run = backends.includes('webgpu') ? test : test.skip;

  run('a WGSL compile failure names the kernel, line and column', async () => {
    const broken = sp.defineOp({
      name: 'brokenKernel',
      shape: (inputs) => [{ shape: inputs[0].shape, dtype: 'f32' }],
      cpu: ({ inputs: [x], outputs: [y] }) => y.set(x),
      webgpu: ({ inputSpecs, outputSpecs }) =>
        sp.mapProgram({ name: 'brokenKernel', inputs: inputSpecs, output: outputSpecs[0], expression: 'x0 + undefined_name' }),
      backward: { notDifferentiable: 'test op' },
    });
    const x = sp.tensor([1, 2, 3], undefined, { backend: 'webgpu' });
    const [y] = sp.runOp(broken, [x], {});
    await expect(y.data()).rejects.toThrow(/brokenKernel\(f32\[3\]\)[\s\S]*WGSL \d+:\d+: .*undefined_name/);
  });

  run('a validation error names the kernel and its shapes', async () => {
    const badBinding = sp.defineOp({
      name: 'badBinding',
      shape: (inputs) => [{ shape: inputs[0].shape, dtype: 'f32' }],
      cpu: ({ inputs: [x], outputs: [y] }) => y.set(x),
      webgpu: ({ inputSpecs, outputSpecs }) => {
        const program = sp.mapProgram({ name: 'badBinding', inputs: inputSpecs, output: outputSpecs[0], expression: 'x0' });
        // Declares the input as writable storage, which the layout does not allow for an input
        // bound read-only: the pipeline layout and the shader disagree.
        program.passes[0].wgsl = program.passes[0].wgsl.replace('var<storage, read> in0', 'var<storage, read_write> in0');
        return program;
      },
      backward: { notDifferentiable: 'test op' },
    });
    const x = sp.tensor([1, 2, 3, 4, 5], undefined, { backend: 'webgpu' });
    const [y] = sp.runOp(badBinding, [x], {});
    await expect(y.data()).rejects.toThrow(/badBinding\(f32\[5\]\): WebGPU validation error/);
    // The backend stays usable after a reported error.
    expect(Array.from(await sp.add(x, 1).data())).toEqual([2, 3, 4, 5, 6]);
  });
});

describe('device loss', () => {
  const run = backends.includes('webgpu') ? test : test.skip;

  run('use after device loss throws DeviceLostError', async () => {
    const { findAdapter } = await import('../src/backend/webgpu/discovery.js');
    const { WebGPUBackend } = await import('../src/backend/webgpu/webgpu-backend.js');
    const found = await findAdapter((process.env.SPARROW_ADAPTER as 'auto' | undefined) ?? 'auto');
    const backend = await WebGPUBackend.create(found!);
    const handle = backend.upload([1, 2, 3], 'f32');
    backend.destroy();
    expect(() => backend.upload([1], 'f32')).toThrow(sp.DeviceLostError);
    await expect(backend.read(handle)).rejects.toThrow(/device was destroyed/);
  });
});
