// The end of a drain, on real sockets: the listener closes, a connection accepted just before it still
// gets its request answered, kept-alive idle connections are closed, and under a reconnecting load no
// connection the server accepted is reset.
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { buildApp } from '../support/app.js'

const REQUEST = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'

async function listening (t: Parameters<typeof buildApp>[0]): Promise<{ app: FastifyInstance, port: number }> {
  const app = await buildApp(t, {})
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return { app, port: address.port }
}

/** A raw connection and everything it receives until it closes. */
function rawConnection (port: number): { socket: Socket, received: () => string, closed: Promise<Error | undefined> } {
  const socket = connect(port, '127.0.0.1')
  let text = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { text += chunk })
  const closed = new Promise<Error | undefined>((resolve) => {
    let failure: Error | undefined
    socket.on('error', (err) => { failure = err })
    socket.on('close', () => { resolve(failure) })
  })
  return { socket, received: () => text, closed }
}

/** Resolves after the server has accepted `count` more connections. */
async function accepted (app: FastifyInstance, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await once(app.server, 'connection')
}

t.test('a connection accepted before the listener closes gets its request answered; idle kept-alive ones are closed', async (t) => {
  const { app, port } = await listening(t)

  // one kept-alive connection that has been served and sits idle
  const idle = rawConnection(port)
  await accepted(app, 1)
  idle.socket.write(REQUEST)
  while (!idle.received().includes('"status":"ok"')) await once(idle.socket, 'data')

  // one accepted connection whose request has not arrived yet
  const late = rawConnection(port)
  await accepted(app, 1)

  app.drain.start()
  const stopped = app.drain.stopAccepting(60_000)
  const refused = rawConnection(port)
  t.match(await refused.closed, { code: 'ECONNREFUSED' }, 'the listener no longer accepts')

  late.socket.write(REQUEST)
  t.equal(await late.closed, undefined, 'the late request is not reset')
  t.match(late.received(), /^HTTP\/1\.1 200 OK\r\n/, 'and it is answered')
  t.match(late.received(), /\r\nconnection: close\r\n/i, 'with Connection: close')
  await stopped // resolved by the last awaited request, long before its grace

  t.equal(idle.socket.closed, false, 'the idle connection was kept until the close')
  await app.close()
  t.equal(await idle.closed, undefined, 'then it is closed, not reset')
  t.equal(idle.received().match(/HTTP\/1\.1/g)?.length, 1, 'with nothing more sent on it')
})

t.test('a connection that sends nothing holds the close up for its grace only', async (t) => {
  const { app, port } = await listening(t)
  const silent = rawConnection(port)
  await accepted(app, 1)
  app.drain.start()
  await app.drain.stopAccepting(50)
  await silent.closed
  t.equal(silent.received(), '', 'it is closed unanswered, as it asked nothing')
  await app.close() // would wait for the request it never sends
  t.pass('and the close does not wait for it')
})

t.test('under clients that reconnect for every request, no connection the server accepted is reset at the close', async (t) => {
  const { app, port } = await listening(t)
  const acceptedPorts = new Set<number>()
  app.server.on('connection', (socket: Socket) => { if (socket.remotePort !== undefined) acceptedPorts.add(socket.remotePort) })
  const resetOnAccepted: string[] = []
  let answered = 0
  let answeredWhileDraining = 0
  const state = { closing: false }
  let inFullSwing!: () => void
  const fullSwing = new Promise<void>((resolve) => { inFullSwing = resolve })

  // each client: connect, ask, read the answer, reconnect, until the listener refuses
  async function client (): Promise<void> {
    for (;;) {
      const connection = rawConnection(port)
      let localPort: number | undefined
      connection.socket.on('connect', () => { localPort = connection.socket.localPort; connection.socket.write(REQUEST) })
      const failure = await connection.closed
      if (failure !== undefined) {
        if ((failure as NodeJS.ErrnoException).code === 'ECONNREFUSED') return
        // a connection the kernel had queued but the process never took is reset by the kernel itself
        if (localPort !== undefined && acceptedPorts.has(localPort)) resetOnAccepted.push((failure as NodeJS.ErrnoException).code ?? failure.message)
        if (state.closing) continue
      }
      if (connection.received().includes('"status":"ok"')) {
        answered++
        if (app.drain.isDraining() && ++answeredWhileDraining === 500) inFullSwing()
      }
    }
  }
  app.drain.start() // every answer says Connection: close, so each client reconnects for every request
  const clients = Array.from({ length: 10 }, async () => await client())
  await fullSwing
  state.closing = true
  await app.drain.stopAccepting(1000)
  await app.close()
  await Promise.all(clients)
  t.ok(answered >= 500, `${answered} requests answered`)
  t.same(resetOnAccepted, [], 'no connection the server accepted was reset')
})
