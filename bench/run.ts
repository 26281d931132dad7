// Runs the benchmarks without the CLI: node run.mjs [--filter <case>] [--impl a,b] [--out <path>] [--json].

import { runBenchmarks, type BenchOptions } from './main.js';

function parseArgs(argv: readonly string[]): BenchOptions {
  const opts: BenchOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg}: missing value`);
      return next;
    };

    if (arg === '--filter') opts.filter = value();
    else if (arg === '--impl') opts.impls = [...(opts.impls ?? []), ...value().split(',')];
    else if (arg === '--out') opts.out = value();
    else if (arg === '--json') opts.json = true;
    else throw new Error(`invalid argument "${arg}"; use --filter <case>, --impl <a,b,...>, --out <path> or --json`);
  }
  return opts;
}

// Dawn keeps the process alive after the work is done, so the process exits explicitly.
try {
  await runBenchmarks(parseArgs(process.argv.slice(2)));
  process.exit(0);
} catch (error) {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
