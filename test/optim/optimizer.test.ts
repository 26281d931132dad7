// The Optimizer: parameter groups, frozen parameters, zeroGrad, learning rates, state dicts, bad input.

import { describe, expect, test } from 'vitest';
import * as sp from '../../src/index.js';
import { testBackends } from '../../src/testing/index.js';
import { CONFIGS, readState, runSteps, seeded, setGradient, type GradientSpec } from './helpers.js';

describe('parameter groups', () => {
  test('each group uses its own algorithm and learning rate', async () => {
    for (const backend of await testBackends()) {
      const initialA = seeded(6, 1);
      const initialB = seeded(4, 2);
      const gradientsA: GradientSpec[] = [{ values: seeded(6, 3) }, { values: seeded(6, 4) }];
      const gradientsB: GradientSpec[] = [{ rows: [0, 3], values: seeded(2, 5) }, { rows: [2], values: seeded(1, 6) }];

      const a = sp.tensor(initialA, [6], { backend, requiresGrad: true });
      const b = sp.tensor(initialB, [4], { backend, requiresGrad: true });
      const opt = new sp.Optimizer([
        { params: { a }, optimizer: { kind: 'adam' }, lr: 0.01 },
        { params: { b }, optimizer: { kind: 'ftrl', l1: 0.1 }, lr: 0.3 },
      ]);
      for (let s = 0; s < 2; s++) {
        setGradient(a, gradientsA[s]);
        setGradient(b, gradientsB[s]);
        opt.step();
        opt.zeroGrad();
      }

      const aloneA = await runSteps(backend, { kind: 'adam' }, 0.01, [6], initialA, gradientsA);
      const aloneB = await runSteps(backend, { kind: 'ftrl', l1: 0.1 }, 0.3, [4], initialB, gradientsB);
      expect(Array.from(await a.data())).toEqual(Array.from(aloneA.weights));
      expect(Array.from(await b.data())).toEqual(Array.from(aloneB.weights));
      expect(Object.keys(opt.stateDict().tensors).sort()).toEqual(['a.exp_avg', 'a.exp_avg_sq', 'b.n', 'b.z']);
      opt.dispose();
    }
  });

  test('frozen parameters and parameters without a gradient are skipped', async () => {
    for (const backend of await testBackends()) {
      const trained = sp.tensor([1, 2], [2], { backend, requiresGrad: true });
      const frozen = sp.tensor([3, 4], [2], { backend });
      const idle = sp.tensor([5, 6], [2], { backend, requiresGrad: true });
      const opt = new sp.Optimizer([{ params: [trained, frozen, idle], optimizer: { kind: 'sgd' }, lr: 0.5 }]);

      trained.grad = sp.tensor([1, 1], [2], { backend });
      frozen.grad = sp.tensor([1, 1], [2], { backend });
      opt.step();

      expect(Array.from(await trained.data())).toEqual([0.5, 1.5]);
      expect(Array.from(await frozen.data())).toEqual([3, 4]);
      expect(Array.from(await idle.data())).toEqual([5, 6]);
      expect(opt.stateDict().steps).toEqual({ 'group0.0': 1 });
    }
  });

  test('zeroGrad clears dense and row-sparse gradients', async () => {
    for (const backend of await testBackends()) {
      const dense = sp.tensor([1, 2], [2], { backend, requiresGrad: true });
      const table = sp.tensor([1, 2, 3, 4], [2, 2], { backend, requiresGrad: true });
      const opt = new sp.Optimizer([{ params: { dense, table }, optimizer: { kind: 'sgd' }, lr: 0.1 }]);
      setGradient(dense, { values: [1, 1] });
      setGradient(table, { rows: [1], values: [1, 1] });
      const sparseValues = table.sparseGrad!.values;

      opt.zeroGrad();
      expect(dense.grad).toBeNull();
      expect(table.sparseGrad).toBeNull();
      expect(sparseValues.isDisposed).toBe(true);
      opt.step();
      expect(Array.from(await dense.data())).toEqual([1, 2]);
    }
  });

  test('gradients from backward drive the step', async () => {
    for (const backend of await testBackends()) {
      // loss = sum(w * x), so the gradient is x and SGD moves w by -lr * x.
      const w = sp.tensor([1, 2, 3], [3], { backend, requiresGrad: true });
      const x = sp.tensor([0.5, -1, 2], [3], { backend });
      const opt = new sp.Optimizer([{ params: { w }, optimizer: { kind: 'sgd' }, lr: 0.5 }]);
      sp.sum(sp.mul(w, x)).backward();
      opt.step();
      expect(Array.from(await w.data())).toEqual([0.75, 2.5, 2]);
      expect(w.node).toBeNull();
    }
  });

  test('updates are in place and state survives tidy', async () => {
    for (const backend of await testBackends()) {
      const w = sp.tensor([1, 2, 3, 4], [2, 2], { backend, requiresGrad: true });
      const view = w.reshape([4]);
      const opt = new sp.Optimizer([{ params: { w }, optimizer: { kind: 'sgd', momentum: 0.5 }, lr: 1 }]);
      sp.tidy(() => {
        w.grad = sp.ones([2, 2], { backend });
        opt.step();
      });
      // The view shares the parameter's storage, so it shows the new values.
      expect(Array.from(await view.data())).toEqual([0, 1, 2, 3]);

      w.grad = sp.ones([2, 2], { backend });
      opt.step();
      // The momentum buffer made in the tidy scope is still alive: buffer 1.5, w -= 1.5.
      expect(Array.from(await w.data())).toEqual([-1.5, -0.5, 0.5, 1.5]);
    }
  });
});

describe('learning rates', () => {
  test('setter changes the next step', async () => {
    for (const backend of await testBackends()) {
      const a = sp.tensor([1], [1], { backend, requiresGrad: true });
      const b = sp.tensor([1], [1], { backend, requiresGrad: true });
      const opt = new sp.Optimizer([
        { params: { a }, optimizer: { kind: 'sgd' }, lr: 0.5, name: 'first' },
        { params: { b }, optimizer: { kind: 'sgd' }, lr: 0.5, name: 'second' },
      ]);
      opt.setLearningRate(0.25);
      opt.setLearningRate(0.125, 'second');
      expect(opt.groups.map((group) => group.lr)).toEqual([0.25, 0.125]);

      a.grad = sp.ones([1], { backend });
      b.grad = sp.ones([1], { backend });
      opt.step();
      expect(await a.item()).toBe(0.75);
      expect(await b.item()).toBe(0.875);

      opt.groups[0].lr = 0;
      opt.step();
      expect(await a.item()).toBe(0.75);
    }
  });

  test('invalid learning rates and groups are rejected', () => {
    const w = sp.tensor([1], [1], { backend: 'cpu', requiresGrad: true });
    const opt = new sp.Optimizer([{ params: [w], optimizer: { kind: 'ftrl' }, lr: 0.1 }]);
    expect(() => opt.setLearningRate(0)).toThrow('ftrl: lr (alpha) is 0; expected a number > 0');
    expect(() => opt.setLearningRate(Number.NaN, 0)).toThrow(RangeError);
    expect(() => opt.setLearningRate(0.1, 3)).toThrow('Optimizer: no parameter group 3; groups are 0 (group0)');
    expect(() => opt.setLearningRate(0.1, 'missing')).toThrow(RangeError);
    expect(opt.groups[0].lr).toBe(0.1);
  });
});

describe('state dict', () => {
  /** Applies one step per entry of `gradients` to `param`, clearing the gradient after each. */
  function train(opt: sp.Optimizer, param: sp.Tensor, gradients: GradientSpec[]): void {
    for (const gradient of gradients) {
      setGradient(param, gradient);
      opt.step();
      opt.zeroGrad();
    }
  }

  test('restored state continues training bit for bit', async () => {
    const shape = [9, 4];
    const initial = seeded(36, 30);
    const gradients: GradientSpec[] = [
      { values: seeded(36, 31) },
      { rows: [0, 3, 8], values: seeded(12, 32) },
      { values: seeded(36, 33) },
      { rows: [3, 4], values: seeded(8, 34) },
      { values: seeded(36, 35) },
    ];
    for (const backend of await testBackends()) {
      for (const { label, optimizer, lr } of CONFIGS) {
        const param = sp.tensor(initial, shape, { backend, requiresGrad: true });
        const opt = new sp.Optimizer([{ params: { table: param }, optimizer, lr }]);
        train(opt, param, gradients.slice(0, 3));

        // Save as a checkpoint would: weights and state read back to the host.
        const savedWeights = (await param.data()) as Float32Array;
        const saved = opt.stateDict();
        const savedHost = { ...saved, tensors: (await readState(opt)).state };
        train(opt, param, gradients.slice(3));
        const expected = Array.from(await param.data());
        const expectedState = (await readState(opt)).state;

        // Restore into a new parameter and a new optimizer, from host arrays.
        const restored = sp.tensor(savedWeights, shape, { backend, requiresGrad: true });
        const fresh = new sp.Optimizer([{ params: { table: restored }, optimizer, lr: lr * 10 }]);
        fresh.loadStateDict(savedHost);
        expect(fresh.groups[0].lr, `${label}: learning rate restored`).toBe(lr);
        expect(fresh.stateDict().steps).toEqual({ table: 3 });
        train(fresh, restored, gradients.slice(3));
        expect(Array.from(await restored.data()), `${label} on ${backend}: weights`).toEqual(expected);
        const freshState = (await readState(fresh)).state;
        for (const name of Object.keys(expectedState)) {
          expect(Array.from(freshState[name]), `${label} on ${backend}: ${name}`).toEqual(Array.from(expectedState[name]));
        }
        opt.dispose();
        fresh.dispose();
      }
    }
  });

  test('loading tensors copies them', async () => {
    for (const backend of await testBackends()) {
      const w = sp.tensor([1, 2], [2], { backend, requiresGrad: true });
      const opt = new sp.Optimizer([{ params: { w }, optimizer: { kind: 'adagrad' }, lr: 0.1 }]);
      const sum = sp.tensor([4, 9], [2], { backend });
      opt.loadStateDict({ groups: opt.stateDict().groups, steps: { w: 5 }, tensors: { 'w.sum': sum } });
      sum.dispose();

      expect(opt.stateDict().steps).toEqual({ w: 5 });
      expect(Array.from((await readState(opt)).state['w.sum'])).toEqual([4, 9]);
      // loadStateDict(stateDict()) keeps the values although it replaces the tensors it reads.
      opt.loadStateDict(opt.stateDict());
      expect(Array.from((await readState(opt)).state['w.sum'])).toEqual([4, 9]);
    }
  });

  test('mismatched state is rejected and changes nothing', async () => {
    const w = sp.tensor([1, 2], [2], { backend: 'cpu', requiresGrad: true });
    const opt = new sp.Optimizer([{ params: { w }, optimizer: { kind: 'adam' }, lr: 0.1 }]);
    w.grad = sp.ones([2], { backend: 'cpu' });
    opt.step();
    const good = opt.stateDict();
    const host = { ...good, tensors: (await readState(opt)).state };

    const wrongKind = { ...host, groups: [{ ...host.groups[0], config: { kind: 'sgd' as const, momentum: 0, nesterov: false, weightDecay: 0 } }] };
    expect(() => opt.loadStateDict(wrongKind)).toThrow('loadStateDict: group group0 uses adam, the state sgd');
    const missing = { ...host, tensors: { 'w.exp_avg': host.tensors['w.exp_avg'] } };
    expect(() => opt.loadStateDict(missing)).toThrow('loadStateDict: state tensor w.exp_avg_sq is missing');
    const wrongSize = { ...host, tensors: { ...host.tensors, 'w.exp_avg': new Float32Array(3) } };
    expect(() => opt.loadStateDict(wrongSize)).toThrow('loadStateDict: state tensor w.exp_avg has 3 values; expected a Float32Array of 2');
    const plainArray = { ...host, tensors: { ...host.tensors, 'w.exp_avg': [0, 0] as unknown as Float32Array } };
    expect(() => opt.loadStateDict(plainArray)).toThrow(
      'loadStateDict: state tensor w.exp_avg is a plain array; expected a Tensor or a Float32Array of 2 values (convert with Float32Array.from)',
    );
    const extra = { ...host, tensors: { ...host.tensors, 'v.exp_avg': new Float32Array(2) } };
    expect(() => opt.loadStateDict(extra)).toThrow('loadStateDict: state tensor v.exp_avg belongs to no parameter');
    const badStep = { ...host, steps: { w: -1 } };
    expect(() => opt.loadStateDict(badStep)).toThrow('loadStateDict: steps of w is -1');
    const otherNames = { ...host, groups: [{ ...host.groups[0], params: ['v'] }] };
    expect(() => opt.loadStateDict(otherNames)).toThrow('loadStateDict: group group0 has parameters [w], the state [v]');

    expect(opt.stateDict().steps).toEqual({ w: 1 });
    expect(Array.from((await readState(opt)).state['w.exp_avg'])).toEqual(Array.from(host.tensors['w.exp_avg']));
  });
});

describe('bad input', () => {
  test('invalid configurations are rejected', () => {
    const w = sp.tensor([1], [1], { backend: 'cpu', requiresGrad: true });
    const make = (optimizer: sp.OptimizerConfig, lr = 0.1) => () => new sp.Optimizer([{ params: [w], optimizer, lr }]);
    expect(make({ kind: 'sgd', momentum: -0.1 })).toThrow('sgd: momentum is -0.1; expected a number >= 0');
    expect(make({ kind: 'sgd', nesterov: true })).toThrow('sgd: nesterov needs a momentum above 0');
    expect(make({ kind: 'adam', beta1: 1 })).toThrow('adam: beta1 is 1; expected a number in [0, 1)');
    expect(make({ kind: 'adamw', eps: 0 })).toThrow('adamw: eps is 0; expected a number > 0');
    expect(make({ kind: 'adagrad', initialAccumulatorValue: 0, eps: 0 })).toThrow(/adagrad: initialAccumulatorValue and eps are both 0/);
    expect(make({ kind: 'ftrl', l1: -1 })).toThrow('ftrl: l1 is -1; expected a number >= 0');
    expect(make({ kind: 'sgd' }, -1)).toThrow('sgd: lr is -1; expected a number >= 0');
    expect(make({ kind: 'rmsprop' } as unknown as sp.OptimizerConfig)).toThrow('optimizer: invalid kind "rmsprop"; use one of sgd, adam, adamw, adagrad, ftrl');
    expect(make({ kind: 'sgd', momentm: 0.9 } as unknown as sp.OptimizerConfig)).toThrow('sgd: unknown option "momentm"; sgd takes momentum, nesterov, weightDecay');
    expect(make('adam' as unknown as sp.OptimizerConfig)).toThrow(`optimizer: expected an object such as { kind: 'adam' }, got string "adam"`);
    expect(() => new sp.Optimizer([])).toThrow(RangeError);
    const table = sp.ShardedTable.create(4, 2, { backend: 'cpu', requiresGrad: true });
    expect(() => new sp.Optimizer([{ params: [table as unknown as sp.Tensor], optimizer: { kind: 'adam' }, lr: 0.1 }])).toThrow(
      'Optimizer: parameter group0.0 of group group0 is not a Tensor; for a ShardedTable, pass its tensors: table.shards',
    );
    expect(() => new sp.Optimizer([{ params: [w, w], optimizer: { kind: 'sgd' }, lr: 0.1 }])).toThrow(/appears twice/);
    const ids = sp.tensor(new Int32Array([1]), [1], { backend: 'cpu' });
    expect(() => new sp.Optimizer([{ params: [ids], optimizer: { kind: 'sgd' }, lr: 0.1 }])).toThrow(/only f32 parameters can be optimized/);
  });

  test('bad gradients throw before any weight changes', async () => {
    for (const backend of await testBackends()) {
      const a = sp.tensor([1, 2], [2], { backend, requiresGrad: true });
      const b = sp.tensor([1, 2, 3, 4], [2, 2], { backend, requiresGrad: true });
      const opt = new sp.Optimizer([{ params: { a, b }, optimizer: { kind: 'sgd' }, lr: 1 }]);

      a.grad = sp.ones([2], { backend });
      b.grad = sp.ones([4], { backend });
      expect(() => opt.step()).toThrow('Optimizer: gradient [4] of parameter b does not match its shape [2, 2]');

      expect(Array.from(await a.data())).toEqual([1, 2]);
    }
  });

  test('non-finite gradients are named before a step', async () => {
    for (const backend of await testBackends()) {
      const dense = sp.tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend, requiresGrad: true });
      const table = sp.tensor([1, 2, 3, 4, 5, 6, 7, 8], [4, 2], { backend, requiresGrad: true });
      const opt = new sp.Optimizer([{ params: { dense, table }, optimizer: { kind: 'adam' }, lr: 1 }]);

      dense.grad = sp.tensor([0.5, 0.5, 0.5, 0.5, NaN, 0.5], [2, 3], { backend });
      setGradient(table, { rows: [1, 3], values: [1, 1, 1, 1] });
      await expect(opt.assertFiniteGradients()).rejects.toThrow(
        'dense: the gradient element [1, 1] is NaN; gradients must be finite (check the loss, inputs and learning rate)',
      );

      dense.grad = sp.ones([2, 3], { backend });
      setGradient(table, { rows: [1, 3], values: [1, 1, Infinity, 1] });
      await expect(opt.assertFiniteGradients()).rejects.toThrow('table: the gradient of table row 3, column 0, is Infinity; gradients must be finite');

      setGradient(table, { rows: [1, 3], values: [1, 1, 1, 1] });
      await expect(opt.assertFiniteGradients()).resolves.toBeUndefined();
      expect(Array.from(await dense.data())).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });

  test('repeated sparse rows throw on the CPU before any write', async () => {
    const w = sp.tensor([1, 2, 3, 4], [4], { backend: 'cpu', requiresGrad: true });
    const opt = new sp.Optimizer([{ params: { w }, optimizer: { kind: 'adam' }, lr: 1 }]);
    setGradient(w, { rows: [1, 3, 1], values: [1, 1, 1] });
    expect(() => opt.step()).toThrow('adamUpdate: rows[2] and rows[0] are both 1; the rows of a row-sparse gradient must be unique');
    expect(Array.from(await w.data())).toEqual([1, 2, 3, 4]);
    expect(opt.stateDict().steps).toEqual({});
  });
});

describe('row-sparse entries', () => {
  test('padding and out-of-range rows are skipped', async () => {
    // PADDING_ROW entries follow the real rows; row 4 is outside a 4-row table. Both are
    // skipped on every backend, and unsorted rows are fine.
    for (const backend of await testBackends()) {
      const w = sp.tensor([1, 2, 3, 4], [4], { backend, requiresGrad: true });
      const opt = new sp.Optimizer([{ params: { w }, optimizer: { kind: 'sgd' }, lr: 1 }]);
      setGradient(w, { rows: [3, 1, 4, sp.PADDING_ROW, sp.PADDING_ROW], values: [0.5, 1, 7, 0, 0] });
      opt.step();
      expect(Array.from(await w.data())).toEqual([1, 1, 3, 3.5]);
    }
  });

  test('row offset selects a shard', async () => {
    // The parameter is rows [10, 13) of a larger table: rows 9 and 13 belong to other shards.
    for (const backend of await testBackends()) {
      for (const { label, optimizer, lr } of CONFIGS) {
        const initial = seeded(6, 40);
        const shard = await runSteps(backend, optimizer, lr, [3, 2], initial, [
          { rows: [9, 10, 12, 13, sp.PADDING_ROW], values: [5, 5, 1, 2, 3, 4, 5, 5, 0, 0], rowOffset: 10 },
        ]);
        const local = await runSteps(backend, optimizer, lr, [3, 2], initial, [{ rows: [0, 2], values: [1, 2, 3, 4] }]);
        expect(Array.from(shard.weights), `${label} on ${backend}`).toEqual(Array.from(local.weights));
      }
    }
  });

  test('dense and row-sparse gradients are summed', async () => {
    // A table used by a dense op and by an embedding bag has both gradients. The step applies
    // their sum once, so it equals one dense step with the summed gradient.
    for (const backend of await testBackends()) {
      for (const { label, optimizer, lr } of CONFIGS) {
        const initial = seeded(8, 41);
        const dense = seeded(8, 42);
        const w = sp.tensor(initial, [4, 2], { backend, requiresGrad: true });
        const opt = new sp.Optimizer([{ params: { w }, optimizer, lr }]);
        w.grad = sp.tensor(dense, [4, 2], { backend });
        setGradient(w, { rows: [2, 0], values: [1, -1, 0.5, 0.25] });
        opt.step();

        // The sum is taken in f32 on both backends: round the dense values first, then the sum.
        const summed = dense.map(Math.fround);
        const added: [number, number][] = [[4, 1], [5, -1], [0, 0.5], [1, 0.25]];
        for (const [index, value] of added) summed[index] = Math.fround(summed[index] + value);
        const expected = await runSteps(backend, optimizer, lr, [4, 2], initial, [{ values: summed }]);
        expect(Array.from(await w.data()), `${label} on ${backend}`).toEqual(Array.from(expected.weights));
        expect(opt.stateDict().steps).toEqual({ w: 1 });
        expect(w.grad.isDisposed).toBe(false);
      }
    }
  });
});
