// A static HTTP server on 127.0.0.1 for the browser example and the browser tests; `node scripts/serve.mjs` serves the repository.

import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * Starts a server on 127.0.0.1 that serves GET and HEAD requests from the files under `root`, and from
 * the in-memory `files` (URL path to { contents, type }) first. A request for a folder serves its
 * index.html. Paths that leave `root` get 403 and missing files 404. `port` 0 (the default)
 * takes a free port. Resolves to { url, close() }, where `url` ends with a slash.
 */
export async function startStaticServer({ root, files = new Map(), port = 0 }) {
  const base = resolve(root);
  const server = createServer((request, response) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const send = (status, type, body) => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      if (request.method === 'HEAD') response.end();
      else if (typeof body === 'function') body().pipe(response);
      else response.end(body);
    };

    let path;
    try {
      path = decodeURIComponent(new URL(request.url, 'http://127.0.0.1').pathname);
    } catch {
      send(400, 'text/plain', `${request.url}: invalid percent-encoding in the path\n`);
      return;
    }

    const inMemory = files.get(path);
    if (inMemory) {
      send(200, inMemory.type, inMemory.contents);
      return;
    }
    let file = resolve(join(base, path));
    if (file !== base && !file.startsWith(base + sep)) {
      send(403, 'text/plain', `${path}: outside the served folder\n`);
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      statSync(file);
    } catch {
      send(404, 'text/plain', `${path}: not found under ${relative(process.cwd(), base) || '.'}\n`);
      return;
    }
    send(200, CONTENT_TYPES[extname(file)] ?? 'application/octet-stream', () => createReadStream(file));
  });

  await new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', done);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((done) => server.close(() => done())),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const portArgument = process.argv.indexOf('--port');
  const port = portArgument > 0 ? Number(process.argv[portArgument + 1]) : 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`--port: "${process.argv[portArgument + 1]}" is not a port number; give an integer from 0 to 65535`);
  }
  const root = fileURLToPath(new URL('..', import.meta.url));
  const { url } = await startStaticServer({ root, port });
  process.stdout.write(`Serving ${root} at ${url}\nBrowser example: ${url}examples/browser/ (build dist/browser.js first: node scripts/build.mjs)\n`);
}
