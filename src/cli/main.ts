// The `sparrow` command: info and bench.

import { Command, Option } from 'commander';

import { getWebGPUBackend, init } from '../backend/registry.js';
import type { Backend } from '../backend/backend.js';
import { ADAPTER_CHOICES, type AdapterChoice } from '../backend/webgpu/discovery.js';
import { registerDemo } from './demo.js';
import { registerDescribe } from './describe.js';
import { registerExport } from './export.js';
import { registerGenerate } from './generate.js';
import { registerInspect } from './inspect.js';
import { registerRank } from './rank.js';
import { registerEvalPredict, registerTrain } from './train.js';

const program = new Command();

program
  .name('sparrow')
  .description('Wide & Deep and multi-task ranking models on sparse data, with WGSL kernels on WebGPU')
  .version('0.1.0');

function backendOption(): Option {
  return new Option('--backend <name>', 'compute backend: auto picks WebGPU when an adapter exists, else the CPU (env SPARROW_BACKEND)')
    .choices(['auto', 'webgpu', 'cpu'])
    .default(undefined, 'auto');
}

function adapterOption(): Option {
  return new Option('--adapter <name>', 'WebGPU adapter to try (env SPARROW_ADAPTER)').choices([...ADAPTER_CHOICES]).default(undefined, 'auto');
}

interface CommonOptions {
  backend?: 'auto' | 'webgpu' | 'cpu';
  adapter?: AdapterChoice;
  json?: boolean;
}

function describeBackend(backend: Backend): Record<string, unknown> {
  const webgpu = getWebGPUBackend();
  return {
    backend: backend.name,
    adapter: backend.adapter,
    limits: backend.limits,
    features: backend.name === 'webgpu' && webgpu ? [...webgpu.features].sort() : [],
  };
}

function printInfo(info: Record<string, unknown>): void {
  const adapter = info.adapter as Backend['adapter'];
  const lines = [
    `backend        ${info.backend}`,
    `adapter        ${adapter.description || '(no description)'}`,
    `vendor         ${adapter.vendor || '(none)'}`,
    `architecture   ${adapter.architecture || '(none)'}`,
    `feature level  ${adapter.featureLevel}`,
    `dawn backend   ${adapter.dawnBackend}`,
  ];
  const limits = info.limits as Record<string, number>;
  if (Object.keys(limits).length > 0) {
    lines.push('limits');
    for (const [key, value] of Object.entries(limits)) lines.push(`  ${key.padEnd(36)} ${value}`);
  }
  const features = info.features as string[];
  if (features.length > 0) lines.push(`features       ${features.join(', ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

program
  .command('info')
  .description('print the backend, the WebGPU adapter (vendor, architecture, description, feature level) and its limits')
  .addOption(backendOption())
  .addOption(adapterOption())
  .option('--json', 'print one JSON object as the last line')
  .action(async (options: CommonOptions) => {
    const backend = await init({ backend: options.backend, adapter: options.adapter });
    const info = describeBackend(backend);
    if (options.json) process.stdout.write(`${JSON.stringify(info)}\n`);
    else printInfo(info);
  });

program
  .command('bench')
  .description('run the kernel benchmarks side by side with TensorFlow.js (needs the development dependencies)')
  .option('--filter <case>', 'run only the cases whose name contains this text (cases: matmul, embedding, train-adult)')
  .option(
    '--impl <list>',
    'comma-separated implementations: sparrow-webgpu, sparrow-cpu, tfjs-webgpu, tfjs-wasm, tfjs-cpu; may be repeated (default: all)',
    (value: string, previous: string[] | undefined) => [...(previous ?? []), ...value.split(',').map((name) => name.trim())],
  )
  .option('--out <path>', 'path of the JSON report, relative to the current folder; missing folders are created and an existing file is replaced', 'bench/results/latest.json')
  .option('--json', 'print the report as one JSON object on the last line (the table goes to stderr)')
  .action(async (options: { filter?: string; impl?: string[]; out: string; json?: boolean }) => {
    // A separate bundle, so that other commands do not load TensorFlow.js.
    const benchPath = new URL('./bench.js', import.meta.url).href;
    const bench = (await import(benchPath)) as typeof import('../../bench/main.js');
    const report = await bench.runBenchmarks({ filter: options.filter, impls: options.impl, out: options.out, json: options.json });
    // A row that failed, or a run that measured nothing, fails the command for scripts and CI.
    process.exitCode = bench.benchExitCode(report);
  });

registerDescribe(program);
registerGenerate(program);
registerTrain(program);
registerEvalPredict(program);
registerDemo(program);
registerRank(program);
registerInspect(program);
registerExport(program);
try {
  await program.parseAsync(process.argv);
  // Dawn's threads keep the process alive after the work is done. A command may have set a
  // failing exit code without throwing (bench, when a row failed).
  process.exit(process.exitCode ?? 0);
} catch (error) {
  process.stderr.write(`sparrow: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
