import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.gz': 'application/octet-stream',
};

/**
 * Serves `root` on 127.0.0.1 (port 0: any free one). `isolated` adds the COOP/COEP headers that make the page
 * cross-origin isolated, which the wasm backend's threads need (SharedArrayBuffer).
 */
export interface StaticServer {
  readonly url: string;
  close(): Promise<void>;
}

export function serveDirectory(root: string, port = 0, { isolated = false } = {}): Promise<StaticServer> {
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path));
    let size: number;
    try {
      if (!file.startsWith(root + sep) && file !== root) throw new Error('outside');
      size = statSync(file).size;
    } catch {
      response.writeHead(404).end('not found');
      return;
    }
    const headers: Record<string, string | number> = {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': size,
    };
    if (isolated) Object.assign(headers, { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
    response.writeHead(200, headers);
    createReadStream(file).pipe(response);
  });
  return new Promise<StaticServer>((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      const { port: actual } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${actual}/`, close: () => new Promise<void>((done) => server.close(() => done())) });
    });
  });
}
