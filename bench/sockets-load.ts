// The sockets measurement, run as its own process (pinned to the load core by bench/run.ts): many
// GraphQL sockets signed in with a session token and held idle (the service's memory per socket), then
// each subscribed to pings (messages per second, and the service's CPU time per message). JSON on stdout.
import { setTimeout as delay } from 'node:timers/promises'
import WebSocket from 'ws'
import { cpuMicros, rssMiB } from './harness.js'

export interface SocketsSpec {
  /** ws://…/graphql */
  url: string
  /** The service's process, whose memory and CPU time are read. */
  pid: number
  token: string
  sockets: number
  everyMs: number
  durationSeconds: number
}

export interface SocketsResult {
  sockets: number
  acknowledged: number
  rssBeforeMiB: number
  rssIdleMiB: number
  kibPerIdleSocket: number
  messagesPerSecond: number
  expectedPerSecond: number
  cpuMicrosPerMessage: number
  closedEarly: number
}

const spec = JSON.parse(process.argv[2] ?? '{}') as SocketsSpec
// The service's memory settles a moment after a burst (allocations, then a collection).
const SETTLE_MS = 2000

const rssBefore = rssMiB(spec.pid).rss
const open: WebSocket[] = []
let messages = 0
let closedEarly = 0
let counting = false
let ending = false
const acknowledged = await Promise.all(Array.from({ length: spec.sockets }, async () => await new Promise<boolean>((resolve) => {
  const socket = new WebSocket(spec.url, 'graphql-transport-ws')
  socket.on('open', () => { socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${spec.token}` } })) })
  socket.on('message', (data) => {
    const { type } = JSON.parse(data.toString()) as { type: string }
    if (type === 'connection_ack') {
      open.push(socket)
      resolve(true)
    } else if (type === 'next' && counting) {
      messages++
    }
  })
  socket.on('error', () => { resolve(false) })
  socket.on('close', () => { if (!ending) closedEarly++; resolve(false) })
})))
await delay(SETTLE_MS)
const rssIdle = rssMiB(spec.pid).rss

open.forEach((socket, i) => { socket.send(JSON.stringify({ type: 'subscribe', id: String(i), payload: { query: `subscription { pings(id: "${i}", everyMs: ${spec.everyMs}) }` } })) })
// the first pings come at once: count from the next full period
await delay(spec.everyMs * 2)
const cpuBefore = cpuMicros(spec.pid)
counting = true
await delay(spec.durationSeconds * 1000)
counting = false
const cpu = cpuMicros(spec.pid) - cpuBefore
ending = true
for (const socket of open) socket.terminate()

const result: SocketsResult = {
  sockets: spec.sockets,
  acknowledged: acknowledged.filter(Boolean).length,
  rssBeforeMiB: rssBefore,
  rssIdleMiB: rssIdle,
  kibPerIdleSocket: (rssIdle - rssBefore) * 1024 / Math.max(open.length, 1),
  messagesPerSecond: messages / spec.durationSeconds,
  expectedPerSecond: open.length * 1000 / spec.everyMs,
  cpuMicrosPerMessage: cpu / Math.max(messages, 1),
  closedEarly
}
process.stdout.write(`${JSON.stringify(result)}\n`)
