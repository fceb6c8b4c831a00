import type { IResolvers, MercuriusContext } from 'mercurius'
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

export const resolvers: IResolvers = {
  Query: {
    pingOne: (_root: unknown, { id }: { id: string }) => `GraphQL Ping #${id}!`,
    orgPing: (_root: unknown, { id }: { id: string }, context: MercuriusContext) => {
      // sessions only (the endpoint's default), and @auth(permission) admits members of an organization only
      const { orgSlug, orgId } = context.reply.request.auth as SessionAuth
      return `Org Ping #${id} for ${orgSlug ?? orgId as string}!`
    },
    // Operations other than introspection run only once authenticated (preExecution).
    me: (_root: unknown, _args: unknown, context: MercuriusContext) => context.reply.request.auth,
    greeting: (_root: unknown, _args: unknown, context: MercuriusContext) => {
      const auth: ClerkAuth | null = context.reply.request.auth
      return `Hello, ${auth === null ? 'guest' : auth.tokenType === 'session_token' ? auth.userId : auth.subject}!`
    }
  }
}
