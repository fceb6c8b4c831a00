// Serves this folder's page on its own origin, as a frontend's dev server would:
// npm run example, then open http://localhost:3100 (PORT and HOST change where it listens).
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

// The page's own files, and nothing else of the disk.
const FILES: Record<string, { file: string, type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' }
}
// Built to dist/examples/browser/: the page's files stay in the source folder.
const SOURCE_DIR = join(import.meta.dirname, '../../../examples/browser')
const HERE = import.meta.filename.endsWith('.ts') ? import.meta.dirname : SOURCE_DIR

export interface ExamplePage { url: string, server: Server }

/** Listens on host:port (0: a free one) and answers the page's files. */
export async function serveExamplePage (port: number, host = '127.0.0.1'): Promise<ExamplePage> {
  const server = createServer((request, response) => {
    const entry = FILES[new URL(request.url ?? '/', 'http://page').pathname]
    if (request.method !== 'GET' || entry === undefined) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found\n')
      return
    }
    response.writeHead(200, { 'content-type': entry.type, 'cache-control': 'no-store' }).end(readFileSync(join(HERE, entry.file)))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, resolve)
  })
  const { port: taken } = server.address() as AddressInfo
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${taken}`, server }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const host = process.env.HOST ?? 'localhost'
  const { url } = await serveExamplePage(Number(process.env.PORT ?? 3100), host)
  process.stdout.write(`The example page: ${url}/?api=http://localhost:3000 (start the service with npm start)\n`)
}
