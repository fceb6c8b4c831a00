// The operation a GraphQL request runs, as the plugin tells an observer (tracing) before it
// authenticates; and the token kinds the plugin refuses to accept without what verifies them.
import type { FastifyRequest } from 'fastify'
import { parse } from 'graphql'
import t from 'tap'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { bearer } from '../../plugins/clerk-auth/test/support/tokens.js'
import { requestedOperation, type GraphqlOperation } from '../../plugins/graphql/index.js'
import { graphqlPluginApp } from '../support/graphql-plugin.js'

const asRequest = (method: string, params: unknown): FastifyRequest => (method === 'GET' ? { method, query: params } : { method, body: params }) as unknown as FastifyRequest

t.test('requestedOperation: the one operationName names, from the body or the query string; undefined when none is', async (t) => {
  const two = parse('query First { pingOne(id: "1") } mutation Second { x }')
  const one = parse('{ pingOne(id: "1") }')
  const cases: Array<[string, ReturnType<typeof parse>, FastifyRequest, GraphqlOperation | undefined]> = [
    ['POST, named', two, asRequest('POST', { operationName: 'Second' }), { type: 'mutation' as GraphqlOperation['type'], name: 'Second' }],
    ['GET, named', two, asRequest('GET', { operationName: 'First' }), { type: 'query' as GraphqlOperation['type'], name: 'First' }],
    ['two operations, none named', two, asRequest('POST', {}), undefined],
    ['a name that is not there', two, asRequest('POST', { operationName: 'Third' }), undefined],
    ['one anonymous operation', one, asRequest('POST', { operationName: 7 }), { type: 'query' as GraphqlOperation['type'], name: undefined }],
    ['no body at all', one, asRequest('POST', undefined), { type: 'query' as GraphqlOperation['type'], name: undefined }],
    ['a null body', one, asRequest('POST', null), { type: 'query' as GraphqlOperation['type'], name: undefined }]
  ]
  for (const [name, document, request, expected] of cases) t.same(requestedOperation(document, request), expected, name)
})

t.test('the plugin: observeOperation sees each HTTP document before authentication; acceptsToken api_key needs clerk-auth\'s secret key', async (t) => {
  const issuer = await startIssuer(t)
  const build = async (options: Record<string, unknown>) => await graphqlPluginApp(t, issuer.url, options)
  const observed: Array<GraphqlOperation | undefined> = []
  const app = await build({ observeOperation: (request: FastifyRequest, document: ReturnType<typeof parse>) => { observed.push(requestedOperation(document, request)) } })
  const named = await app.inject({ method: 'POST', url: '/graphql', headers: bearer(issuer.sessionToken()), payload: { query: 'query Named { pingOne(id: "1") }' } })
  t.same(named.json(), { data: { pingOne: 'GraphQL Ping #1!' } })
  const refused = await app.inject({ method: 'POST', url: '/graphql', payload: { query: 'query Anonymous { pingOne(id: "2") }' } })
  t.equal(refused.statusCode, 401)
  t.same(observed, [{ type: 'query', name: 'Named' }, { type: 'query', name: 'Anonymous' }], 'refused callers are observed too')
  await t.rejects(build({ acceptsToken: ['session_token', 'api_key'] }), /acceptsToken names api_key, which only Clerk's Backend API can verify/)
})
