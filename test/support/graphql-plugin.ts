// The graphql plugin alone on Fastify, with only clerk-auth before it: no app around it.
import Fastify, { type FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import clerkAuth from '../../plugins/clerk-auth/index.js'
import graphql from '../../plugins/graphql/index.js'

/** clerk-auth for issuer, then graphql with public introspection, sessions only and options over them; closed when the test ends. */
export async function graphqlPluginApp (t: Test, issuer: string, options: Record<string, unknown> = {}): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(async () => await app.close())
  await app.register(clerkAuth, { issuer })
  await app.register(graphql, { publicIntrospection: true, acceptsToken: ['session_token'], ...options })
  return app
}
