// Runs the built `sparrow` command in a child process, for end-to-end CLI tests.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const repositoryRoot = join(import.meta.dirname, '..', '..');
const cli = join(repositoryRoot, 'dist', 'cli.js');

export interface CliResult {
  stdout: string;
  stderr: string;
  /** Exit status; 0 on success. */
  code: number;
}

/** Runs `node dist/cli.js ...args` from the repository root; a failing command resolves with its status. */
export async function sparrow(args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { cwd: repositoryRoot, maxBuffer: 64 * 1024 * 1024 });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as CliResult;
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

/** Parses the last stdout line, where every command prints its JSON result with --json. */
export function lastJson(stdout: string): Record<string, any> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

/** Builds dist/ so that the commands under test are the current sources. */
export async function buildCli(): Promise<void> {
  await run(process.execPath, [join(repositoryRoot, 'scripts', 'build.mjs')], { cwd: repositoryRoot });
}
