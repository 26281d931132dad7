// The example page's controls: picks the backend, runs the foodio demo with its loss chart and AUC table, and runs the kernel benchmarks.

import * as sp from '../../dist/browser.js';

import { runKernelBenchmarks } from './kernel-bench.js';
import { DEMO_SETTINGS, MODELS, runDemo } from './train-demo.js';

const COLORS = { wide: '#d1495b', deep: '#00798c', 'wide-deep': '#edae49' };

const element = (id) => document.getElementById(id);
const status = (text) => (element('status').textContent = text);

function describeBackend(backend) {
  if (backend.name === 'cpu') return 'CPU backend (plain JavaScript loops, one thread)';
  const { vendor, architecture, description, featureLevel } = backend.adapter;
  return `WebGPU: ${[vendor, architecture, description].filter(Boolean).join(' ')} (${featureLevel} level)`;
}

/** Reads a positive integer from the form field `id`, or throws naming the field and its value. */
function readCount(id) {
  const input = element(id);
  const value = Number(input.value);
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${input.name}: "${input.value}" must be a positive integer`);
  return value;
}

/** Points averaged by the smoothed curve: with a loss read every 4 steps, the mean of the last 20 steps. */
const SMOOTHING_WINDOW = 5;

/**
 * A chart of the training loss per model on a canvas, with the step on x and the loss on y. The
 * losses read back form a thin line. Their moving average, a thick line, shows the trend through
 * the noise of single batches.
 */
class LossChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.series = new Map();
    this.pending = false;
  }

  clear() {
    this.series.clear();
    this.draw();
  }

  add(kind, step, loss) {
    if (!this.series.has(kind)) this.series.set(kind, []);
    this.series.get(kind).push([step, loss]);
    // Draw once per frame, however many losses arrive in it.
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw() {
    const { canvas } = this;
    const context = canvas.getContext('2d');
    const width = canvas.width;
    const height = canvas.height;
    const margin = { left: 48, right: 12, top: 12, bottom: 28 };
    context.clearRect(0, 0, width, height);
    context.font = '12px sans-serif';
    context.fillStyle = '#444';
    context.strokeStyle = '#bbb';
    context.lineWidth = 1;
    context.strokeRect(margin.left, margin.top, width - margin.left - margin.right, height - margin.top - margin.bottom);

    const points = [...this.series.values()].flat();
    if (points.length === 0) {
      context.fillText('the loss appears here while the models train', margin.left + 12, height / 2);
      return;
    }
    const maxStep = Math.max(...points.map(([step]) => step));
    const maxLoss = Math.max(...points.map(([, loss]) => loss));
    const x = (step) => margin.left + (step / maxStep) * (width - margin.left - margin.right);
    const y = (loss) => height - margin.bottom - (loss / maxLoss) * (height - margin.top - margin.bottom);
    const line = (series, lineWidth, alpha) => {
      context.lineWidth = lineWidth;
      context.globalAlpha = alpha;
      context.beginPath();
      series.forEach(([step, loss], i) => (i === 0 ? context.moveTo(x(step), y(loss)) : context.lineTo(x(step), y(loss))));
      context.stroke();
      context.globalAlpha = 1;
    };

    context.fillText(maxLoss.toFixed(2), 4, margin.top + 10);
    context.fillText('0', 30, height - margin.bottom);
    context.fillText(`step ${maxStep}`, width - margin.right - 64, height - 8);
    let legend = margin.left + 8;
    for (const [kind, series] of this.series) {
      const smoothed = series.map(([step], i) => {
        const window = series.slice(Math.max(0, i - SMOOTHING_WINDOW + 1), i + 1);
        return [step, window.reduce((total, [, loss]) => total + loss, 0) / window.length];
      });
      context.strokeStyle = COLORS[kind];
      line(series, 1, 0.35);
      line(smoothed, 2.5, 1);
      const label = MODELS.find((model) => model.kind === kind).label;
      context.fillStyle = COLORS[kind];
      context.fillText(`— ${label}`, legend, height - 8);
      legend += context.measureText(`— ${label}`).width + 16;
    }
  }
}

function formatAuc(metric) {
  return metric.value === null ? 'n/a' : metric.value.toFixed(4);
}

function showAucTable(demo) {
  const body = element('auc-table').querySelector('tbody');
  body.replaceChildren();
  for (const result of demo.results) {
    const row = body.insertRow();
    row.insertCell().textContent = result.label;
    for (const metric of [result.targeted, result.exploratory, result.heldOut, result.all]) {
      const cell = row.insertCell();
      cell.textContent = formatAuc(metric);
      if (metric.value === null) cell.title = metric.reason;
    }
    row.insertCell().textContent = result.seconds.toFixed(1);
  }
  const { rows } = demo;
  element('auc-caption').textContent =
    `Test AUC of "consumed" by query kind: ${rows.train} training rows, ${rows.test} test rows (${rows.targeted} targeted, ` +
    `${rows.exploratory} exploratory, ${rows.heldOut} of them with an item held out of training); ${demo.seconds.toFixed(1)} s in all.`;
  element('auc-table').hidden = false;
}

function addBenchRow(result) {
  const row = element('bench-table').querySelector('tbody').insertRow();
  for (const text of [result.case, result.shape, result.backend, result.firstMs.toFixed(1), result.medianMs.toFixed(2), String(result.samples), result.rate]) {
    row.insertCell().textContent = text;
  }
  element('bench-table').hidden = false;
}

/**
 * Runs `work` with the page's buttons disabled, and shows an error in the status line. The
 * error is handled there, so it is not also reported as an uncaught page error; its stack
 * goes to the console.
 */
async function busy(work) {
  const buttons = document.querySelectorAll('button');
  buttons.forEach((button) => (button.disabled = true));
  try {
    await work();
  } catch (error) {
    status(`error: ${error.message}`);
    element('status').classList.add('error');
    console.error(error);
  } finally {
    buttons.forEach((button) => (button.disabled = false));
  }
}

async function setUp() {
  // auto: WebGPU when navigator.gpu gives an adapter, else the CPU backend with a console warning.
  const backend = await sp.init();
  element('backend').textContent = describeBackend(backend);
  const select = element('train-backend');
  if (backend.name !== 'webgpu') select.querySelector('option[value="webgpu"]').disabled = true;
  select.value = backend.name;

  for (const [id, value] of [['rows', DEMO_SETTINGS.rows], ['epochs', DEMO_SETTINGS.epochs], ['batch-size', DEMO_SETTINGS.batchSize]]) element(id).value = String(value);
  const chart = new LossChart(element('loss-chart'));
  chart.draw();

  element('train').addEventListener('click', () =>
    busy(async () => {
      // The previous results go first, so that an invalid setting does not leave them on show.
      element('status').classList.remove('error');
      element('auc-table').hidden = true;
      const settings = { ...DEMO_SETTINGS, rows: readCount('rows'), epochs: readCount('epochs'), batchSize: readCount('batch-size') };
      chart.clear();
      const demo = await runDemo({ settings, backend: select.value, lossEvery: 4, onLoss: (kind, step, loss) => chart.add(kind, step, loss), onStatus: status });
      showAucTable(demo);
      status(`done: three models trained on ${select.value}`);
    }),
  );

  element('bench').addEventListener('click', () =>
    busy(async () => {
      element('status').classList.remove('error');
      element('bench-table').querySelector('tbody').replaceChildren();
      const results = await runKernelBenchmarks({ onResult: addBenchRow, onStatus: (text) => status(`benchmark: ${text}`) });
      element('bench-json').textContent = JSON.stringify({ adapter: sp.getBackend().adapter, results }, null, 2);
      element('bench-json').hidden = false;
      status(`done: ${results.length} benchmark cases`);
    }),
  );
  status('ready');
}

setUp().catch((error) => {
  status(`error: ${error.message}`);
  element('status').classList.add('error');
});
