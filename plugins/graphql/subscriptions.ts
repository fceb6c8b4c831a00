// GraphQL subscriptions over WebSocket (graphql-transport-ws, and the legacy graphql-ws), authenticated
// for the socket's whole life: the caller is decided at connection_init by the same verifier as HTTP,
// the socket closes when its token expires (unless a fresh token of the same session arrives in a
// ping) or when Clerk revokes the session, and every socket is bounded in time, number and size.
import websocket from '@fastify/websocket'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { MercuriusOptions } from 'mercurius'
import type { RawData, WebSocket } from 'ws'
import { isRefusal, SESSIONS_ONLY, type ClerkAuth, type RefusalCode, type SessionAuth } from '../clerk-auth/index.js'

export interface SubscriptionLimits {
  /** A socket that has not sent connection_init by then is closed with 4408. */
  initTimeoutMs: number
  /** Sockets open at once in this process; an upgrade past it gets 503. */
  maxSockets: number
  /** Subscriptions open at once on one socket; one more closes it with 4400. */
  maxSubscriptionsPerSocket: number
  /** The largest message a client may send; a larger one closes the socket (1009). */
  maxMessageBytes: number
}

export interface SubscriptionOptions extends SubscriptionLimits {
  /** Whether a page of this origin may open a socket (the CORS allow-list): cross-site WebSocket hijacking. */
  isAllowedOrigin: (origin: string) => boolean
  /** Called once with the sockets' counters, for metrics. */
  exposeStats?: (stats: () => SocketStats) => void
}

/** The bounds when none are given (graphql-ws' own init timeout). */
export const DEFAULT_SUBSCRIPTION_OPTIONS: SubscriptionOptions = {
  initTimeoutMs: 3000,
  maxSockets: 10_000,
  maxSubscriptionsPerSocket: 20,
  maxMessageBytes: 64 * 1024,
  // no page of another origin: clients that send no Origin (servers, scripts) only
  isAllowedOrigin: () => false
}

/** Close codes: graphql-transport-ws' own, and 1013 (try again later) when Clerk cannot be reached. */
export const CLOSE_CODES = {
  badRequest: 4400,
  unauthorized: 4401,
  forbidden: 4403,
  initTimeout: 4408,
  subscriberExists: 4409,
  tooManyInits: 4429,
  tryAgainLater: 1013
} as const

// How often open sockets are checked for an init that never came and a token past its deadline (each
// message sent is checked as well, so nothing is sent after a deadline whatever this says).
const SWEEP_INTERVAL_MS = 1000

/** One open socket. */
interface Connection {
  socket: WebSocket
  openedAt: number
  /** The upgrade request (Mercurius' context.request): its auth is the caller resolvers see. */
  request: FastifyRequest | undefined
  auth: SessionAuth | null
  /** When the token stops being valid (its exp plus the clock skew), by the verifier's clock. */
  deadline: number
  inits: number
  subscriptions: Set<string>
  closed: boolean
}

export interface SocketStats {
  open: number
  subscriptions: number
  /** Closes by code (what the service sent, or what the client or the network said). */
  closes: Record<string, number>
}

/**
 * The token of a connection_init payload, as GraphQL clients send it: authorization (any case) at
 * the top level or under headers. undefined when there is none; null when the payload is unusable.
 */
export function initAuthorization (payload: unknown): string | undefined | null {
  if (payload === undefined || payload === null) return undefined
  if (typeof payload !== 'object' || Array.isArray(payload)) return null
  const fields = payload as Record<string, unknown>
  const headers = fields.headers
  const sources = [fields, ...(headers !== null && typeof headers === 'object' && !Array.isArray(headers) ? [headers as Record<string, unknown>] : [])]
  for (const source of sources) {
    for (const [name, value] of Object.entries(source)) {
      if (name.toLowerCase() !== 'authorization') continue
      return typeof value === 'string' ? value : null
    }
  }
  return undefined
}

/** When a session token stops being accepted: its exp plus the skew. */
export function deadlineOf (auth: SessionAuth, clockSkewMs: number): number {
  return (auth.claims.exp as number) * 1000 + clockSkewMs
}

/** The close code for a refusal: 1013 when Clerk cannot be reached, else 4401. */
export function closeCodeOf (code: RefusalCode): number {
  return code === 'issuer_unavailable' || code === 'clerk_api_unavailable' ? CLOSE_CODES.tryAgainLater : CLOSE_CODES.unauthorized
}

const parse = (data: RawData): unknown => {
  try {
    return JSON.parse(data.toString())
  } catch {
    // Mercurius answers what is not JSON
    return undefined
  }
}

/** A page served by this host (GraphiQL): not another site, whatever the allowed origins say. */
export function sameHost (origin: string, host: string | undefined): boolean {
  if (host === undefined) return false
  try {
    return new URL(origin).host === host.toLowerCase()
  } catch {
    return false
  }
}

export interface Subscriptions {
  /** Mercurius' subscription option. */
  subscription: NonNullable<MercuriusOptions['subscription']>
  /** Once Mercurius is registered: checks every message before it is sent. */
  guardMessages: () => void
}

/** The context key under which a subscription's resolvers and hooks find their socket. */
const kConnection = 'graphqlSocket'

/**
 * Sets up the sockets of the GraphQL route: registers @fastify/websocket with the bounds, refuses
 * upgrades from foreign origins and past maxSockets, and returns Mercurius' subscription options.
 */
export async function setUpSubscriptions (fastify: FastifyInstance, given: Partial<SubscriptionOptions> = {}): Promise<Subscriptions> {
  const options: SubscriptionOptions = { ...DEFAULT_SUBSCRIPTION_OPTIONS, ...given }
  for (const name of ['initTimeoutMs', 'maxSockets', 'maxSubscriptionsPerSocket', 'maxMessageBytes'] as const) {
    const value = options[name]
    if (!Number.isSafeInteger(value) || value < 1) throw new Error(`graphql option subscriptions.${name} must be a whole number, at least 1`)
  }
  if (typeof options.isAllowedOrigin !== 'function') throw new Error('graphql option subscriptions.isAllowedOrigin must be a function of an origin')
  const { verifier } = fastify.clerkAuth
  const { now, clockSkewMs } = verifier.options
  const connections = new Map<WebSocket, Connection>()
  const closes: Record<string, number> = {}
  let subscriptions = 0

  // At the upgrade, before a socket exists (and at no cost to HTTP requests): foreign origins and too many sockets.
  function upgradeRefusal (origin: string | undefined, host: string | undefined): { statusCode: number, body: string } | undefined {
    const refusal = (statusCode: number, error: string, code: string, message: string): { statusCode: number, body: string } =>
      ({ statusCode, body: JSON.stringify({ statusCode, error, code, message }) })
    if (origin !== undefined && !sameHost(origin, host) && !options.isAllowedOrigin(origin)) {
      return refusal(403, 'Forbidden', 'origin_not_allowed', 'Pages of this origin may not open a GraphQL socket: the service\'s allowed origins (CORS) do not list it.')
    }
    if (connections.size >= options.maxSockets) {
      return refusal(503, 'Service Unavailable', 'too_many_sockets', 'This process holds as many GraphQL sockets as it may; retry shortly.')
    }
    return undefined
  }
  await fastify.register(websocket, {
    options: {
      maxPayload: options.maxMessageBytes,
      // ws answers a refusal itself: the status, and the JSON body with its type
      verifyClient: (info, answer) => {
        const { origin, host } = info.req.headers
        const refused = upgradeRefusal(origin, host)
        if (refused === undefined) answer(true)
        else answer(false, refused.statusCode, refused.body, { 'Content-Type': 'application/json; charset=utf-8' })
      }
    }
  })

  function close (connection: Connection, code: number, reason: string): void {
    if (connection.closed) return
    connection.closed = true
    connection.socket.close(code, reason)
  }

  /** A ping carrying a fresh token: the same session's moves the deadline, anything else ends the socket. */
  async function refresh (connection: Connection, authorization: string): Promise<void> {
    let verdict
    try {
      verdict = await verifier.verifyCredentials(authorization, undefined, SESSIONS_ONLY, connection.request)
    } catch (err) {
      fastify.log.error({ err }, 'token refresh on a GraphQL socket failed')
      close(connection, CLOSE_CODES.tryAgainLater, 'refresh_failed')
      return
    }
    const held = connection.auth
    if (connection.closed || held === null) return
    if (isRefusal(verdict)) {
      close(connection, closeCodeOf(verdict), verdict)
      return
    }
    const session = verdict as SessionAuth
    if (session.userId !== held.userId || session.sessionId !== held.sessionId) {
      close(connection, CLOSE_CODES.forbidden, 'session_mismatch')
      return
    }
    connection.auth = session
    if (connection.request !== undefined) connection.request.auth = session
    connection.deadline = deadlineOf(session, clockSkewMs)
  }

  /** What Mercurius does not check: one init, unique and bounded subscriptions, acknowledgement first, refreshes. */
  function inspect (connection: Connection, data: RawData): void {
    const message = parse(data)
    if (message === null || typeof message !== 'object') return
    const { type, id, payload } = message as { type?: unknown, id?: unknown, payload?: unknown }
    switch (type) {
      case 'connection_init':
        if (++connection.inits > 1) close(connection, CLOSE_CODES.tooManyInits, 'too_many_initialisation_requests')
        break
      case 'subscribe':
      case 'start':
        if (connection.auth === null) {
          close(connection, CLOSE_CODES.unauthorized, 'unauthorized')
        } else if (typeof id !== 'string' || id === '' || id.length > 128) {
          close(connection, CLOSE_CODES.badRequest, 'invalid_subscription_id')
        } else if (connection.subscriptions.has(id)) {
          close(connection, CLOSE_CODES.subscriberExists, 'subscriber_already_exists')
        } else if (connection.subscriptions.size >= options.maxSubscriptionsPerSocket) {
          close(connection, CLOSE_CODES.badRequest, 'too_many_subscriptions')
        } else {
          connection.subscriptions.add(id)
          subscriptions++
        }
        break
      case 'complete':
      case 'stop':
        if (typeof id === 'string' && connection.subscriptions.delete(id)) subscriptions--
        break
      case 'ping': {
        const authorization = initAuthorization(payload)
        if (authorization === null) close(connection, CLOSE_CODES.badRequest, 'invalid_ping_payload')
        // refresh() never rejects: what fails closes the socket
        else if (authorization !== undefined && connection.auth !== null) refresh(connection, authorization).catch(() => {})
        break
      }
    }
  }

  fastify.websocketServer.on('connection', (socket: WebSocket) => {
    const connection: Connection = { socket, openedAt: now(), request: undefined, auth: null, deadline: Infinity, inits: 0, subscriptions: new Set(), closed: false }
    connections.set(socket, connection)
    socket.on('message', (data: RawData) => { inspect(connection, data) })
    socket.on('close', (code: number) => {
      connection.closed = true
      connections.delete(socket)
      subscriptions -= connection.subscriptions.size
      closes[code] = (closes[code] ?? 0) + 1
    })
  })

  /** Closes a signed-in socket whose token is past its deadline, or whose session Clerk has ended. */
  function closeIfOver (connection: Connection, at: number): void {
    if (connection.auth === null) return
    if (at >= connection.deadline) close(connection, CLOSE_CODES.unauthorized, 'token_expired')
    else if (verifier.isRevoked(connection.auth)) close(connection, CLOSE_CODES.unauthorized, 'session_revoked')
  }

  // Sockets that never sent connection_init, and tokens past their deadline.
  const sweep = setInterval(() => {
    const at = now()
    for (const connection of connections.values()) {
      if (connection.auth === null && at - connection.openedAt >= options.initTimeoutMs) close(connection, CLOSE_CODES.initTimeout, 'connection_initialisation_timeout')
      else closeIfOver(connection, at)
    }
  }, SWEEP_INTERVAL_MS)
  sweep.unref()

  // A session Clerk ends closes its sockets at once.
  const stopListening = verifier.onRevocation(() => {
    const at = now()
    for (const connection of connections.values()) closeIfOver(connection, at)
  })

  fastify.addHook('onClose', async () => {
    clearInterval(sweep)
    stopListening()
  })

  const subscription: NonNullable<MercuriusOptions['subscription']> = {
    // Mercurius binds onConnect to the connection: this.socket and this.context.request are the upgrade's.
    async onConnect (this: { socket: WebSocket, context: { request: FastifyRequest } }, data: { payload?: unknown }): Promise<false | { auth: ClerkAuth, [kConnection]: Connection }> {
      const connection = connections.get(this.socket)
      if (connection === undefined || connection.closed) return false
      const { request } = this.context
      const authorization = initAuthorization(data.payload)
      if (authorization === null) {
        close(connection, CLOSE_CODES.badRequest, 'invalid_connection_params')
        return false
      }
      // Browsers cannot set headers on a socket: without a token in the payload, the upgrade's __session cookie.
      const verdict = await verifier.verifyCredentials(authorization, authorization === undefined ? request.headers.cookie : undefined, SESSIONS_ONLY, request)
      if (connection.closed) return false
      if (isRefusal(verdict)) {
        close(connection, closeCodeOf(verdict), verdict)
        return false
      }
      const session = verdict as SessionAuth
      connection.request = request
      connection.auth = session
      connection.deadline = deadlineOf(session, clockSkewMs)
      request.auth = session
      return { auth: session, [kConnection]: connection }
    }
  }

  options.exposeStats?.(() => ({ open: connections.size, subscriptions, closes: { ...closes } }))
  return {
    subscription,
    // A message Mercurius then tries to send on the closing socket is dropped (ws refuses it).
    guardMessages: () => {
      fastify.graphql.addHook('onSubscriptionResolution', async (_execution, context) => {
        const connection = (context as unknown as Record<typeof kConnection, Connection | undefined>)[kConnection]
        if (connection !== undefined) closeIfOver(connection, now())
      })
    }
  }
}
