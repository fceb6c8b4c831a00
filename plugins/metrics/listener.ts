import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * GET /metrics on its own listener, so that the public port never shows them; anything else is a
 * 404 and nothing is read from a request. Resolves once listening; rejects naming the port in use.
 */
export async function listenForMetrics (host: string, port: number, read: () => Promise<{ contentType: string, body: string }>): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: metrics are at GET /metrics\n')
      return
    }
    read().then(({ contentType, body }) => {
      response.writeHead(200, { 'content-type': contentType }).end(body)
    }, (err: unknown) => {
      response.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end(`Metrics unavailable: ${(err as Error).message}\n`)
    })
  })
  // a scrape is one short request: idle connections are not kept for long
  server.keepAliveTimeout = 5000
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE'
        ? Object.assign(new Error(`Cannot listen for metrics: port ${port} on ${host} is already in use (set METRICS_PORT to another one, or 0 to turn metrics off).`), { code: err.code })
        : err)
    })
    server.listen(port, host, resolve)
  })
  return server
}

/** The address a metrics listener took, as a URL. */
export function metricsUrl (server: Server): string {
  const { address, port } = server.address() as AddressInfo
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}/metrics`
}
