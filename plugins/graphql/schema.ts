import { setInterval } from 'node:timers/promises'
import mercurius, { type IResolvers, type MercuriusContext } from 'mercurius'
import type { ClerkAuth, SessionAuth } from '../clerk-auth/index.js'
import { authDirectiveTypeDefs } from './auth-directive.js'

export const schema = /* GraphQL */ `
  ${authDirectiveTypeDefs}

  type Query {
    "Answers with the id it was given; needs a valid session token."
    pingOne(id: String!): String!
    "An organization-scoped ping: needs the org:pings:read permission."
    orgPing(id: String!): String @auth(permission: "org:pings:read")
    "What the backend sees of the caller."
    me: Me!
    "Hello to the signed-in caller, or to a guest: the one field that runs without a token."
    greeting: String! @optionalAuth
  }

  "Over a WebSocket (graphql-transport-ws, or the legacy graphql-ws): the socket's session token is sent in connection_init, and a fresh one in a ping payload before it expires."
  type Subscription {
    "GraphQL Ping #<id>! at once, then every everyMs milliseconds (250 to 60000), for as long as the socket's session lasts."
    pings(id: ID!, everyMs: Int = 1000): String!
    "The organization-scoped ping: needs the org:pings:read permission, checked at subscribe."
    orgPings(id: ID!, everyMs: Int = 1000): String! @auth(permission: "org:pings:read")
    "The caller as the socket's current token says, at once and then every everyMs: a refreshed token shows here (a new organization role, for example)."
    whoami(everyMs: Int = 1000): Me!
  }

  "Who is impersonating the user, during impersonation."
  type Actor {
    sub: String!
  }

  "The caller, as their Clerk token says: a session (tokenType session_token) or a machine (m2m_token, oauth_token, api_key)."
  type Me {
    tokenType: String!
    "Sessions: sub. OAuth: the user. API keys: the owner, when a user."
    userId: String
    sessionId: String
    sessionStatus: String
    actor: Actor
    orgId: String
    orgRole: String
    orgSlug: String
    orgPermissions: [String!]
    "[minutes since first factor, minutes since second factor], -1 when not enrolled"
    factorVerificationAge: [Int!]
    "Machines: the token id (jti)."
    id: String
    "Machines: the machine (mch_…) or user (user_…) the token speaks for."
    subject: String
    "Machines: M2M target machines or OAuth scopes."
    scopes: [String!]
    machineId: String
    clientId: String
    name: String
  }
`

// Ticks at most this often, and at least this rarely: a subscription cannot become a busy loop.
export const EVERY_MS = { min: 250, max: 60_000 }

/**
 * Ticks at once and then every everyMs; refused at subscribe when everyMs is out of bounds.
 * return() stops the timer at once, even while a tick is awaited: an ended subscription holds nothing.
 */
function ticks (everyMs: number): AsyncIterableIterator<undefined> {
  if (!Number.isInteger(everyMs) || everyMs < EVERY_MS.min || everyMs > EVERY_MS.max) {
    throw new mercurius.ErrorWithProps(`everyMs must be a whole number from ${EVERY_MS.min} to ${EVERY_MS.max}`, { code: 'BAD_USER_INPUT' })
  }
  const stop = new AbortController()
  const later = setInterval(everyMs, undefined, { signal: stop.signal })
  let first = true
  const done = { value: undefined, done: true } as const
  return {
    async next () {
      if (first) {
        first = false
        return { value: undefined, done: false }
      }
      try {
        return await later.next()
      } catch (error) {
        if (stop.signal.aborted) return done
        throw error
      }
    },
    async return () {
      stop.abort()
      return done
    },
    [Symbol.asyncIterator] () { return this }
  }
}

const orgPingText = (id: string, context: MercuriusContext): string => {
  // sessions only, and @auth(permission) admits members of an organization only
  const { orgSlug, orgId } = context.reply.request.auth as SessionAuth
  return `Org Ping #${id} for ${orgSlug ?? orgId as string}!`
}

export const resolvers: IResolvers = {
  Subscription: {
    pings: {
      subscribe: (_root: unknown, { everyMs }: { everyMs: number }) => ticks(everyMs),
      resolve: (_tick: unknown, { id }: { id: string }) => `GraphQL Ping #${id}!`
    },
    orgPings: {
      subscribe: (_root: unknown, { everyMs }: { everyMs: number }) => ticks(everyMs),
      resolve: (_tick: unknown, { id }: { id: string }, context: MercuriusContext) => orgPingText(id, context)
    },
    whoami: {
      subscribe: (_root: unknown, { everyMs }: { everyMs: number }) => ticks(everyMs),
      resolve: (_tick: unknown, _args: unknown, context: MercuriusContext) => context.reply.request.auth
    }
  },
  Query: {
    pingOne: (_root: unknown, { id }: { id: string }) => `GraphQL Ping #${id}!`,
    orgPing: (_root: unknown, { id }: { id: string }, context: MercuriusContext) => orgPingText(id, context),
    // Operations other than introspection run only once authenticated (preExecution).
    me: (_root: unknown, _args: unknown, context: MercuriusContext) => context.reply.request.auth,
    greeting: (_root: unknown, _args: unknown, context: MercuriusContext) => {
      const auth: ClerkAuth | null = context.reply.request.auth
      return `Hello, ${auth === null ? 'guest' : auth.tokenType === 'session_token' ? auth.userId : auth.subject}!`
    }
  }
}
