// Builds the app exactly as src/server.ts does, and runs a real issuer on 127.0.0.1 for it.
import { createHmac, createPublicKey, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Test } from 'tap'
import serviceApp, { serverOptions, type AppOptions } from '../src/app.js'
import { answerBackendApi, generateSigningKey, type OpaqueTokenRecord, sessionClaims, type SigningKey, signJwt } from '../plugins/clerk-auth/testing/index.js'

export type Env = NonNullable<AppOptions['env']>

export interface BuildOptions {
  /** Registers extra routes or hooks before the app is made ready. */
  extend?: (app: FastifyInstance) => void
  logger?: Parameters<typeof serverOptions>[0]
  /** The clock clerk-auth reads. */
  now?: () => number
}

/** The service app, built as the server builds it, closed when the test ends. */
export async function buildApp (t: Test, env: Env, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify(serverOptions(options.logger ?? false, env.TRUST_PROXY === undefined ? undefined : String(env.TRUST_PROXY)))
  // No metrics unless a test asks for them (with a free port): apps of parallel tests would compete for one.
  // No shedding unless a test asks for it: a test process that makes RSA keys stalls its own event loop.
  // The development issuer (when the test names no issuer) on a free port, its key in a temporary folder.
  const defaults = { METRICS_PORT: 0, OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: 0, DEV_ISSUER_PORT: 0, DEV_ISSUER_DIR: tempDir(t) }
  app.register(fp(serviceApp), { env: { ...defaults, ...env }, now: options.now })
  // as a plugin of its own, after the app's plugins, the way a user's routes would be added
  const { extend } = options
  if (extend !== undefined) app.register(async (instance) => extend(instance))
  t.teardown(async () => await app.close())
  await app.ready()
  return app
}

/** A temporary folder removed when the test ends. */
export function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'clerk-auth-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

// Keys are slow to make: share a few across the tests of a process.
let sharedKeys: SigningKey[] | undefined
export function testKeys (): [SigningKey, SigningKey] {
  sharedKeys ??= [generateSigningKey(), generateSigningKey()]
  return sharedKeys as [SigningKey, SigningKey]
}

/** ok; error (HTTP 500); garbage (broken JSON); not-array ("keys" is an object); oversized (2 MiB, declared or chunked);
 * hang (never answers); reset (drops the connection, as a host that is down); held (answers when the test says: release()). */
export type IssuerMode = 'ok' | 'error' | 'garbage' | 'not-array' | 'oversized' | 'oversized-chunked' | 'hang' | 'reset' | 'held'

export interface TestIssuer {
  url: string
  /** The key set the issuer publishes. */
  keys: SigningKey[]
  mode: IssuerMode
  /** JWKS requests seen. */
  requests: number
  /** Requests the client gave up on before an answer (hang mode). */
  aborted: number
  /** Resolves when the next JWKS request arrives. */
  nextRequest: () => Promise<void>
  /** Answers the requests held so far (held mode) with the keys published now. */
  release: () => void
  /** The clock claims() dates tokens by: Date.now unless a test sets its own. */
  now: () => number
  /** Valid Clerk v2 session claims for this issuer, with overrides (undefined removes a claim). */
  claims: (overrides?: Record<string, unknown>) => Record<string, unknown>
  /** Signs claims with the first published key (or another), under its kid unless the header says otherwise. */
  sign: (claims?: Record<string, unknown>, options?: { key?: SigningKey, header?: Record<string, unknown> }) => string
  close: () => Promise<void>
}

// What the oversized modes add to the key set: 2 MiB, over the plugin's 1 MiB cap.
const padding = 'x'.repeat(2 * 1024 * 1024)

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

/** A real JWKS issuer over HTTP on 127.0.0.1, closed when the test ends. */
export async function startIssuer (t: Test, keys: SigningKey[] = [testKeys()[0]]): Promise<TestIssuer> {
  const waiting: Array<() => void> = []
  const held: Array<() => void> = []
  const issuer: TestIssuer = {
    url: '',
    keys,
    mode: 'ok',
    requests: 0,
    aborted: 0,
    now: Date.now,
    nextRequest: async () => await new Promise<void>((resolve) => waiting.push(resolve)),
    release: () => { for (const answer of held.splice(0)) answer() },
    claims (overrides = {}) {
      const nowSeconds = Math.floor(issuer.now() / 1000)
      const claims: Record<string, unknown> = { ...sessionClaims({ issuer: issuer.url, sub: 'user_123', sid: 'sess_123', azp: 'http://localhost:3000', nowSeconds }), ...overrides }
      for (const name of Object.keys(claims)) if (claims[name] === undefined) delete claims[name]
      return claims
    },
    sign (claims = issuer.claims(), options = {}) {
      const key = options.key ?? issuer.keys[0] as SigningKey
      return signJwt({ kid: key.publicJwk.kid, ...options.header }, claims, key.privateKey)
    },
    close: async () => {}
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end()
      return
    }
    issuer.requests++
    for (const notify of waiting.splice(0)) notify()
    const jwks = JSON.stringify({ keys: issuer.keys.map((key) => key.publicJwk) })
    switch (issuer.mode) {
      case 'hang':
        res.on('close', () => { if (!res.writableFinished) issuer.aborted++ })
        return
      case 'held':
        held.push(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: issuer.keys.map((key) => key.publicJwk) })))
        return
      case 'reset':
        req.socket.destroy()
        return
      case 'error':
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"boom"}')
        return
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": [')
        return
      case 'not-array':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": {"0": {}}}')
        return
      case 'oversized':
        res.writeHead(200, { 'content-type': 'application/json' }).end(`${jwks.slice(0, -1)},"padding":"${padding}"}`)
        return
      case 'oversized-chunked':
        res.writeHead(200, { 'content-type': 'application/json' })
        res.write(`${jwks.slice(0, -1)},"padding":"`)
        for (let i = 0; i < 32; i++) res.write(padding.slice(0, 64 * 1024))
        res.end('"}')
        return
      default:
        res.writeHead(200, { 'content-type': 'application/json' }).end(jwks)
    }
  })
  Object.assign(issuer, await serveOnLoopback(t, server))
  return issuer
}

/** A token with any header and signature segment, for forgeries no honest signer makes. */
export function forgeToken (header: Record<string, unknown>, payload: Record<string, unknown>, signature = ''): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${encode(header)}.${encode(payload)}.${signature}`
}

/** A signing key's public half as PEM, as the Clerk dashboard shows it (CLERK_JWT_KEY). */
export function publicPem (key: SigningKey): string {
  return createPublicKey(key.privateKey).export({ type: 'spki', format: 'pem' }).toString()
}

/** HS256 "signed" with the issuer's public key as the HMAC secret: the classic algorithm-confusion attack. */
export function hs256WithPublicKey (key: SigningKey, payload: Record<string, unknown>): string {
  const secret = publicPem(key)
  const input = forgeToken({ alg: 'HS256', typ: 'JWT', kid: key.publicJwk.kid }, payload).slice(0, -1)
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** The Authorization header carrying a token. */
export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

/** A log destination that keeps every line written to it. */
export function logLines (): { lines: string[], stream: Writable } {
  const lines: string[] = []
  return { lines, stream: new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } }) }
}

/** A clock a test moves by hand, for the app (buildApp's now) and the issuer's claims (issuer.now). */
export function testClock (startMs = Date.now()): { now: () => number, advance: (ms: number) => void } {
  let nowMs = startMs
  return { now: () => nowMs, advance: (ms) => { nowMs += ms } }
}

/** Waits until check() is true, polling; fails after ms. */
export async function waitFor (check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

export { freePort } from '../bench/free-port.js'

/**
 * ok; error (HTTP 500); garbage (200, not JSON); hang (never answers); reset (drops the connection);
 * huge (200 and a 1 GiB body, streamed until the client stops reading); drip (200, then a byte now and then, never ending).
 */
export type BackendApiMode = 'ok' | 'error' | 'garbage' | 'hang' | 'reset' | 'huge' | 'drip'

export interface TestBackendApi {
  url: string
  secretKey: string
  machineSecretKey: string
  mode: BackendApiMode
  /** When set, every verify request gets this answer instead (odd bodies and statuses Clerk might send); raw is sent as it is. */
  override: { status: number, body?: unknown, raw?: string } | undefined
  /** Bytes of body written by the huge mode so far. */
  hugeBytesWritten: number
  /** The clock Clerk judges `expired` by: Date.now unless a test sets its own. */
  now: () => number
  /** Every request received, in order. */
  calls: Array<{ path: string, authorization: string | undefined, version: string | undefined, contentType: string | undefined, body: Record<string, unknown> }>
  /** Registers a token Clerk knows; answers the token. */
  add: (record: Partial<OpaqueTokenRecord> & Pick<OpaqueTokenRecord, 'type'>) => string
  close: () => Promise<void>
}

const OPAQUE_PREFIXES = { api_key: 'ak_', m2m_token: 'mt_', oauth_token: 'oat_' } as const

/** Clerk's Backend API verify endpoints on 127.0.0.1, answering as Clerk documents (plugins/clerk-auth/testing/backend-api.ts), closed when the test ends. */
export async function startBackendApi (t: Test): Promise<TestBackendApi> {
  const records = new Map<string, OpaqueTokenRecord>()
  const api: TestBackendApi = {
    url: '',
    secretKey: 'sk_test_backendapitest',
    machineSecretKey: 'ak_machinesecrettest',
    mode: 'ok',
    override: undefined,
    hugeBytesWritten: 0,
    now: Date.now,
    calls: [],
    add (record) {
      const token = `${OPAQUE_PREFIXES[record.type]}${randomBytes(16).toString('hex')}`
      records.set(token, {
        id: `${OPAQUE_PREFIXES[record.type]}id_${randomBytes(8).toString('hex')}`,
        subject: record.type === 'm2m_token' ? 'mch_caller' : 'user_1',
        scopes: [],
        claims: null,
        expiration: null,
        revoked: false,
        createdAt: Date.now(),
        ...record
      })
      return token
    },
    close: async () => {}
  }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      let body: Record<string, unknown> = {}
      try { body = JSON.parse(text) as Record<string, unknown> } catch {}
      api.calls.push({ path: req.url ?? '', authorization: req.headers.authorization, version: req.headers['clerk-api-version'] as string | undefined, contentType: req.headers['content-type'], body })
      switch (api.mode) {
        case 'hang': return
        case 'reset': req.socket.destroy(); return
        case 'error': res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":[{"message":"boom","code":"internal"}]}'); return
        case 'garbage': res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":'); return
        case 'huge': streamHugeAnswer(res, (bytes) => { api.hugeBytesWritten += bytes }); return
        case 'drip': {
          res.writeHead(200, { 'content-type': 'application/json' }).write('{"object":"api_key","id":"')
          const timer = setInterval(() => res.write('x'), 50)
          res.on('close', () => clearInterval(timer))
          return
        }
      }
      if (api.override?.raw !== undefined) {
        res.writeHead(api.override.status, { 'content-type': 'application/json' }).end(api.override.raw)
        return
      }
      const answer = api.override ?? answerBackendApi({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization, body: text },
        { secretKey: api.secretKey, machineSecretKeys: [api.machineSecretKey] }, (_type, token) => records.get(token), api.now())
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body))
    })
  })
  Object.assign(api, await serveOnLoopback(t, server))
  return api
}

const HUGE_ANSWER_BYTES = 1024 ** 3
const HUGE_CHUNK = Buffer.alloc(64 * 1024, 'a')

/** A 1 GiB JSON answer, written as fast as the client reads and stopped when it goes away. */
function streamHugeAnswer (res: ServerResponse, wrote: (bytes: number) => void): void {
  res.writeHead(200, { 'content-type': 'application/json' })
  res.write('{"object":"api_key","claims":"')
  let sent = 0
  const more = (): void => {
    while (sent < HUGE_ANSWER_BYTES && !res.destroyed) {
      sent += HUGE_CHUNK.length
      wrote(HUGE_CHUNK.length)
      if (!res.write(HUGE_CHUNK)) {
        res.once('drain', more)
        return
      }
    }
    if (!res.destroyed) res.end('"}')
  }
  more()
}

/** One sample of Prometheus text: its name, labels and value. */
export interface MetricSample { name: string, labels: Record<string, string>, value: number }

/** Prometheus text format, as a scraper reads it: samples, without the HELP and TYPE lines. */
export function parseMetrics (text: string): MetricSample[] {
  const samples: MetricSample[] = []
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) continue
    const labels: Record<string, string> = {}
    for (const [, name, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[name as string] = value as string
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) })
  }
  return samples
}

/** The app's metrics, parsed (the app must have them on: METRICS_PORT set to a free port). */
export async function readMetrics (app: FastifyInstance): Promise<MetricSample[]> {
  if (app.metrics === null) throw new Error('metrics are off: give the app a METRICS_PORT')
  return parseMetrics((await app.metrics.read()).body)
}

/** The value of the sample with this name and (at least) these labels; 0 when there is none, as for a counter never increased. */
export function metricValue (samples: MetricSample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`)
  return found[0]?.value ?? 0
}
