// `npm run test:browser`: builds dist/browser.js, serves it on 127.0.0.1 and runs the browser tests in headless Chromium through playwright-core.
//
// Tests: the WebGPU adapter that navigator.gpu gives, the op parity cases on that adapter
// against the CPU backend, a short foodio training run compared with the same run in Node, and
// the example page. Prints one line per test and "N passed, M failed"; exits 1 on a failure.
//
// Environment: SPARROW_CHROMIUM (default /usr/bin/chromium, Debian's package) is the browser
// binary; playwright-core never downloads one here. SPARROW_BROWSER_FILTER runs only the tests
// whose name contains its value.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { build } from 'esbuild';
import { chromium } from 'playwright-core';

import { startStaticServer } from '../scripts/serve.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = process.env.SPARROW_CHROMIUM || '/usr/bin/chromium';
const FILTER = process.env.SPARROW_BROWSER_FILTER ?? '';

// WebGPU in headless Chromium on a machine without a GPU: SwiftShader's Vulkan device behind
// --enable-unsafe-swiftshader. The machine has no network, so the features that call home are off.
const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  // Chromium refuses to start its sandbox as root.
  ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
];

/** Per-call limits; a call that runs longer fails its test and stops the run, since the page may be stuck. */
const TIMEOUT_MS = { setUp: 60_000, parityCase: 120_000, training: 180_000, examplePage: 240_000 };

// The training comparison: compareWithin gives the reason behind each bound.
const TRAINING_TOLERANCE = { firstLossRelative: 1e-5, meanLossRelative: 2e-3, auc: 2e-3, logloss: 2e-3, accuracyRows: 3 };

const results = [];
let stopped = null;

function report(name, ok, detail) {
  results.push({ name, ok });
  process.stdout.write(`${ok ? 'PASS' : 'FAIL'}  ${name}${detail ? `\n      ${detail.split('\n').join('\n      ')}` : ''}\n`);
}

function selected(name) {
  return name.includes(FILTER);
}

/** Runs `work`; past `ms` it rejects, so a stuck page fails its test instead of hanging the run. */
async function withTimeout(label, ms, work) {
  let timer;
  const timeout = new Promise((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${label}: timed out after ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs one named test: `work` returns a detail line or throws. After a timeout the remaining
 * tests are not run. `always` runs a test that the others need, whatever SPARROW_BROWSER_FILTER selects.
 */
async function runTest(name, ms, work, { always = false } = {}) {
  if (!always && !selected(name)) return;
  if (stopped) {
    report(name, false, `not run: ${stopped}`);
    return;
  }
  const started = performance.now();
  try {
    const detail = await withTimeout(name, ms, work);
    report(name, true, `${((performance.now() - started) / 1000).toFixed(1)} s${detail ? `; ${detail}` : ''}`);
  } catch (error) {
    if (/timed out after/.test(error.message)) stopped = `"${name}" timed out`;
    report(name, false, error.message);
  }
}

/** Type-checks the page's suite and the training run, which the root tsconfig.json leaves out. */
function typeCheck() {
  const checked = spawnSync(resolve(ROOT, 'node_modules/.bin/tsc'), ['-p', 'test-browser', '--noEmit'], { cwd: ROOT, encoding: 'utf8' });
  if (checked.error) throw checked.error;
  if (checked.status !== 0) throw new Error(`tsc -p test-browser failed (exit ${checked.status}):\n${checked.stdout}${checked.stderr}`);
}

function buildLibrary() {
  const built = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`node scripts/build.mjs failed (exit ${built.status}):\n${built.stderr}${built.stdout}`);
}

/** Bundles the page's suite; its imports of src/browser.ts go to the built /dist/browser.js. */
async function bundleSuite() {
  const browserEntry = resolve(ROOT, 'src/browser.ts');
  const result = await build({
    entryPoints: [resolve(ROOT, 'test-browser/suite.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'warning',
    plugins: [
      {
        name: 'use-dist-browser',
        setup(builder) {
          builder.onResolve({ filter: /browser\.js$/ }, (args) =>
            resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts') === browserEntry ? { path: '/dist/browser.js', external: true } : undefined,
          );
        },
      },
    ],
  });
  return result.outputFiles[0].contents;
}

/** Bundles the training run for Node from the sources and imports it; Node's registry then has Dawn's discovery, as the Node library does. */
async function importNodeTraining() {
  const outfile = resolve(ROOT, '.tmp/browser-test/training-run.mjs');
  mkdirSync(resolve(ROOT, '.tmp/browser-test'), { recursive: true });
  await build({
    entryPoints: [resolve(ROOT, 'test-browser/training-run.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile,
    logLevel: 'warning',
  });
  return import(`${pathToFileURL(outfile).href}?t=${Date.now()}`);
}

function firstDifference(label, a, b) {
  if (a.length !== b.length) return `${label}: ${a.length} values in the browser, ${b.length} in Node`;
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) return `${label}[${i}]: ${a[i]} in the browser, ${b[i]} in Node`;
  }
  return null;
}

/** The CPU backend is the same TypeScript in both places, and JavaScript float arithmetic is IEEE 754, so every bit must match. */
function compareExactly(browser, node) {
  const problems = [
    browser.steps === node.steps ? null : `steps: ${browser.steps} in the browser, ${node.steps} in Node`,
    firstDifference('losses', browser.losses, node.losses),
    firstDifference('metrics [auc, logloss, accuracy]', [browser.auc, browser.logloss, browser.accuracy], [node.auc, node.logloss, node.accuracy]),
    firstDifference('weights', browser.weights, node.weights),
  ].filter((problem) => problem !== null);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return `${node.steps} steps, ${browser.weights.length} weights, losses and test metrics identical to Node's (AUC ${node.auc.toFixed(4)})`;
}

/**
 * WebGPU computes in float32 with other rounding than the CPU backend (sums in another order,
 * fused multiply-adds, division within 2.5 ulps), so the two runs start a few ulps apart. After
 * 16 steps the loss still agrees to about 1e-7 relative: firstLossRelative bounds that at 1e-5.
 * The difference then grows: Adam divides by sqrt(v), so a table row that a batch rarely touches
 * takes steps of about the learning rate whose sign the rounding can flip. This run (4096 rows,
 * 256 steps) was measured between Node's CPU backend and llvmpipe. Single weights differed by up
 * to 0.03. The test metrics moved by about 3e-5 (AUC) and 5e-5 (log loss), and the test accuracy
 * not at all. The bounds leave room for another adapter: AUC and log loss within 2e-3,
 * the mean of the losses read back within 0.2%, and at most 3 of the 1,024 test rows changing
 * their predicted class.
 */
function compareWithin(browser, node) {
  const t = TRAINING_TOLERANCE;
  const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;
  const testRows = 1024;
  const checks = [
    [browser.steps === node.steps, `steps: ${browser.steps} in the browser, ${node.steps} in Node`],
    [browser.losses.length === node.losses.length, `losses read back: ${browser.losses.length} in the browser, ${node.losses.length} in Node`],
    [Math.abs(browser.losses[0] - node.losses[0]) <= t.firstLossRelative * Math.abs(node.losses[0]), `first loss: ${browser.losses[0]} in the browser, ${node.losses[0]} in Node (relative bound ${t.firstLossRelative})`],
    [Math.abs(mean(browser.losses) - mean(node.losses)) <= t.meanLossRelative * mean(node.losses), `mean loss: ${mean(browser.losses)} in the browser, ${mean(node.losses)} in Node (relative bound ${t.meanLossRelative})`],
    [Math.abs(browser.auc - node.auc) <= t.auc, `test AUC: ${browser.auc} in the browser, ${node.auc} in Node (bound ${t.auc})`],
    [Math.abs(browser.logloss - node.logloss) <= t.logloss, `test log loss: ${browser.logloss} in the browser, ${node.logloss} in Node (bound ${t.logloss})`],
    [Math.abs(browser.accuracy - node.accuracy) * testRows <= t.accuracyRows + 1e-9, `test accuracy: ${browser.accuracy} in the browser, ${node.accuracy} in Node (bound ${t.accuracyRows} of ${testRows} rows)`],
  ];
  const failed = checks.filter(([ok]) => !ok).map(([, message]) => message);
  if (failed.length > 0) throw new Error(failed.join('\n'));
  return (
    `AUC ${browser.auc.toFixed(5)} vs ${node.auc.toFixed(5)}, log loss ${browser.logloss.toFixed(5)} vs ${node.logloss.toFixed(5)}, ` +
    `accuracy ${browser.accuracy.toFixed(4)} vs ${node.accuracy.toFixed(4)}, first loss ${browser.losses[0].toPrecision(7)} vs ${node.losses[0].toPrecision(7)}`
  );
}

/** Waits until the example page's status line reads "done…" (returned) or "error…" (thrown). */
async function waitForStatus(page) {
  await page.waitForFunction(() => /^(done|error)/.test(document.getElementById('status').textContent), null, { timeout: TIMEOUT_MS.examplePage });
  const text = await page.textContent('#status');
  if (text.startsWith('error')) throw new Error(`the page reports ${text}`);
  return text;
}

// Settings of the example-page test, small enough to train the three models in about 8 s on SwiftShader.
const EXAMPLE_DEMO = { rows: '4000', epochs: '2', batchSize: '128' };
// With EXAMPLE_DEMO the test AUC on all rows measured 0.79 (wide) to 0.86 (wide & deep) on
// SwiftShader. An untrained model scores about 0.5, so 0.7 shows that every model learned, and
// leaves room for another adapter's rounding.
const EXAMPLE_MIN_AUC = 0.7;

/** Opens examples/browser/ as a user would, trains the three models with small settings, then runs the kernel benchmarks. */
async function testExamplePage(browser, baseUrl) {
  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${baseUrl}examples/browser/`);

  await runTest('example page: foodio demo with loss chart and AUC table', TIMEOUT_MS.examplePage, async () => {
    await page.waitForFunction(() => /^(ready|error)/.test(document.getElementById('status').textContent), null, { timeout: 30_000 });
    const backend = await page.textContent('#backend');
    if (!backend.startsWith('WebGPU')) throw new Error(`the page chose "${backend}" instead of WebGPU (status: ${await page.textContent('#status')})`);
    await page.fill('#rows', EXAMPLE_DEMO.rows);
    await page.fill('#epochs', EXAMPLE_DEMO.epochs);
    await page.fill('#batch-size', EXAMPLE_DEMO.batchSize);
    await page.click('#train');
    const status = await waitForStatus(page);
    if (!status.includes('on webgpu')) throw new Error(`the models trained elsewhere than on WebGPU: "${status}"`);

    const table = await page.$$eval('#auc-table tbody tr', (rows) => rows.map((row) => [...row.cells].map((cell) => cell.textContent)));
    const models = table.map((cells) => cells[0]).join(', ');
    if (models !== 'wide, deep, wide & deep') throw new Error(`AUC table rows: ${models}; expected wide, deep, wide & deep`);
    for (const [model, targeted, exploratory, heldOut, all] of table) {
      for (const [slice, text] of [['targeted', targeted], ['exploratory', exploratory], ['held-out', heldOut]]) {
        const value = Number(text);
        if (!(value >= 0 && value <= 1)) throw new Error(`${model}, ${slice}: AUC cell "${text}" is not a number in [0, 1]`);
      }
      if (!(Number(all) >= EXAMPLE_MIN_AUC)) throw new Error(`${model}: test AUC ${all} on all rows, expected at least ${EXAMPLE_MIN_AUC}`);
    }
    // The chart must have been drawn: some pixels of the canvas are not transparent.
    const inked = await page.$eval('#loss-chart', (canvas) => {
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let count = 0;
      for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) count++;
      return count;
    });
    if (inked < 2000) throw new Error(`the loss chart has ${inked} drawn pixels; expected curves`);
    return `test AUC (all rows) ${table.map(([model, , , , all]) => `${model} ${all}`).join(', ')}`;
  });

  await runTest('example page: kernel benchmarks', TIMEOUT_MS.examplePage, async () => {
    await page.click('#bench');
    // The page checks each matmul corner against float64 and the pooled embeddings of both backends, and reports a mismatch as an error.
    await waitForStatus(page);
    const rows = await page.$$eval('#bench-table tbody tr', (items) => items.map((row) => [...row.cells].map((cell) => cell.textContent)));
    const webgpu = rows.filter((cells) => cells[2] === 'webgpu').length;
    const cpu = rows.filter((cells) => cells[2] === 'cpu').length;
    if (webgpu === 0 || webgpu !== cpu) throw new Error(`benchmark rows: ${webgpu} on webgpu and ${cpu} on cpu; expected the same positive number`);
    const bad = rows.find((cells) => !(Number(cells[4]) > 0));
    if (bad) throw new Error(`benchmark row "${bad.join(' | ')}" has no positive median time`);
    const matmul = rows.filter((cells) => cells[0] === 'matmul' && cells[1] === '512x512x512').map((cells) => `${cells[2]} ${cells[4]} ms`);
    return `${rows.length} cases; matmul 512x512x512: ${matmul.join(', ')}`;
  });

  if (pageErrors.length > 0) process.stdout.write(`Errors on the example page:\n  ${pageErrors.join('\n  ')}\n`);
  await page.close();
}

async function main() {
  const started = performance.now();
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}; install Debian's chromium package (apt-get install chromium) or set SPARROW_CHROMIUM to a Chromium binary`);
  }
  await runTest('type check of test-browser/', TIMEOUT_MS.setUp, async () => typeCheck(), { always: true });
  buildLibrary();
  const suite = await bundleSuite();
  const testPage = '<!doctype html><meta charset="utf-8"><title>Sparrow browser tests</title><link rel="icon" href="data:,"><script type="module" src="/test-browser/suite.js"></script>\n';
  const server = await startStaticServer({
    root: ROOT,
    files: new Map([
      ['/test-browser/', { type: 'text/html; charset=utf-8', contents: testPage }],
      ['/test-browser/suite.js', { type: 'text/javascript; charset=utf-8', contents: suite }],
    ]),
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const version = browser.version();

  try {
    const page = await browser.newPage();
    const pageErrors = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') pageErrors.push(`console ${message.type()}: ${message.text()}`);
    });
    await page.goto(`${server.url}test-browser/`);
    await page.waitForFunction(() => window.sparrowBrowserTests !== undefined, null, { timeout: 30_000 });
    process.stdout.write(`Chromium ${version} (${CHROMIUM}), page ${server.url}test-browser/\n`);

    let hasAdapter = false;
    await runTest('WebGPU adapter from navigator.gpu', TIMEOUT_MS.setUp, async () => {
      const setUp = await page.evaluate(() => window.sparrowBrowserTests.setUp());
      if (!setUp.adapter) {
        throw new Error(`no WebGPU adapter (navigator.gpu ${setUp.navigatorGpu ? 'present' : 'missing'}, secure context ${setUp.secureContext}): ${setUp.error}`);
      }
      hasAdapter = true;
      const { vendor, architecture, device, description, featureLevel } = setUp.adapter;
      const limits = `maxStorageBufferBindingSize ${setUp.limits.maxStorageBufferBindingSize}, maxComputeWorkgroupsPerDimension ${setUp.limits.maxComputeWorkgroupsPerDimension}`;
      return `vendor "${vendor}", architecture "${architecture}", device "${device}", description "${description}", ${featureLevel} level; ${limits}; features ${setUp.features.join(' ')}`;
    }, { always: true });

    const caseNames = await page.evaluate(() => window.sparrowBrowserTests.parityCases);
    for (const name of caseNames) {
      await runTest(`parity: ${name}`, TIMEOUT_MS.parityCase, async () => {
        // Without an adapter the cases fail rather than pass on the CPU alone.
        if (!hasAdapter) throw new Error('no WebGPU adapter in the page (see the adapter test above)');
        const outcome = await page.evaluate((caseName) => window.sparrowBrowserTests.runParityCase(caseName), name);
        if (!outcome.ok) throw new Error(outcome.error);
        return '';
      });
    }

    let nodeRun = null;
    const nodeReference = async () => {
      if (nodeRun === null) {
        const { runTraining, TRAINING_RUN } = await importNodeTraining();
        nodeRun = await runTraining({ ...TRAINING_RUN, backend: 'cpu' });
      }
      return nodeRun;
    };
    await runTest('training on the CPU backend: bit-identical to Node', TIMEOUT_MS.training, async () => {
      const node = await nodeReference();
      const run = await page.evaluate(() => window.sparrowBrowserTests.runTrainingOn('cpu'));
      return `${compareExactly(run, node)}; ${run.seconds.toFixed(1)} s in the browser, ${node.seconds.toFixed(1)} s in Node`;
    });
    await runTest('training on WebGPU: metrics match Node within tolerances', TIMEOUT_MS.training, async () => {
      if (!hasAdapter) throw new Error('no WebGPU adapter in the page (see the adapter test above)');
      const node = await nodeReference();
      const run = await page.evaluate(() => window.sparrowBrowserTests.runTrainingOn('webgpu'));
      return `${compareWithin(run, node)}; ${run.seconds.toFixed(1)} s on ${run.adapter}, ${node.seconds.toFixed(1)} s on Node's CPU backend`;
    });

    if (pageErrors.length > 0) process.stdout.write(`Messages from the test page:\n  ${pageErrors.join('\n  ')}\n`);

    await testExamplePage(browser, server.url);
  } finally {
    await browser.close();
    await server.close();
  }

  const passed = results.filter((result) => result.ok).length;
  const failed = results.length - passed;
  process.stdout.write(`${passed} passed, ${failed} failed (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
  if (results.length === 0) process.stdout.write(`no test name contains SPARROW_BROWSER_FILTER="${FILTER}"\n`);
  return failed === 0 && results.length > 0;
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (error) => {
    process.stderr.write(`test:browser: ${error.stack ?? error}\n`);
    process.exit(1);
  },
);
