// Environment variables and the diagnostic stream, read the same way in Node and in a web page.

interface NodeLikeProcess {
  env?: Record<string, string | undefined>;
  stderr?: { write(text: string): unknown };
}

/** Node's `process`, or undefined in a browser, where the global does not exist. */
function nodeProcess(): NodeLikeProcess | undefined {
  return (globalThis as { process?: NodeLikeProcess }).process;
}

/** Returns the environment variable `name` in Node; a web page has no environment, so there it returns undefined. */
export function envValue(name: string): string | undefined {
  return nodeProcess()?.env?.[name];
}

/** Writes one diagnostic line: to stderr in Node, to the console as a warning in a browser. */
export function writeDiagnostic(line: string): void {
  const stderr = nodeProcess()?.stderr;
  if (stderr) stderr.write(`${line}\n`);
  else console.warn(line);
}
