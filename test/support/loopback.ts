// Servers of a test's own on 127.0.0.1.
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'

export { freePort } from '../../bench/free-port.js'

/** Listens on a free 127.0.0.1 port; close() (also run when the test ends) drops open connections. */
export async function serveOnLoopback (t: Test, server: Server): Promise<{ url: string, close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  t.teardown(close)
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close }
}
