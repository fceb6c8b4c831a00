// What an anonymous caller, or a token holder, can make GraphQL do: bounded.
import type { AddressInfo } from 'node:net'
import { getIntrospectionQuery, parse } from 'graphql'
import t from 'tap'
import { queryLimits, queryProblem } from '../../plugins/graphql/query-limits.js'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { buildApp } from '../support/app.js'

const INTROSPECTION = getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true })
const ALIAS = '__schema { types { fields { name type { name } } } }'
const ALIAS_FIELDS = 6
/** The most aliases within the field limit. */
const MOST = Math.floor(queryLimits.fields / ALIAS_FIELDS)
/** A hostile request: n aliases of a field listing the whole schema. */
const aliases = (n: number): string => `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${ALIAS}`).join(' ')} }`

t.test('queryProblem', async (t) => {
  t.equal(queryProblem(parse(INTROSPECTION), queryLimits), undefined, "GraphiQL's introspection query is within the limits")
  t.equal(queryProblem(parse('{ pingOne(id: "1") me { userId } }'), queryLimits), undefined)
  const tooMany = queryProblem(parse(`{ ${'__typename '.repeat(queryLimits.fields + 1)}}`), queryLimits)
  t.equal(tooMany?.code, 'QUERY_TOO_COMPLEX', '501 fields')
  t.match(tooMany?.message, /more than 500 fields/)
  t.equal(queryProblem(parse(`{ ${'__typename '.repeat(queryLimits.fields)}}`), queryLimits), undefined, '500 fields, the limit')
  t.equal(queryProblem(parse(aliases(MOST + 1)), queryLimits)?.code, 'QUERY_TOO_COMPLEX', `${MOST + 1} aliases of ${ALIAS_FIELDS} fields`)
  // Each fragment spreads the next one twice: 2^30 fields from a few hundred bytes.
  const chain = Array.from({ length: 30 }, (_, i) => `fragment F${i} on __Type { ...F${i + 1} ...F${i + 1} }`).join(' ')
  const bomb = `{ __schema { types { ...F0 } } } ${chain} fragment F30 on __Type { name }`
  t.equal(queryProblem(parse(bomb), queryLimits)?.code, 'QUERY_TOO_COMPLEX', 'a fragment bomb is measured expanded')
  const nested = (depth: number): string => `{ ${'__type(name: "Query") { ofType { '.repeat(1)}${'ofType { '.repeat(depth - 3)}name${' }'.repeat(depth - 1)} }`
  t.equal(queryProblem(parse(nested(20)), queryLimits), undefined, 'depth 20')
  t.match(queryProblem(parse(nested(21)), queryLimits), { code: 'QUERY_TOO_COMPLEX', message: /more than 20 levels/ }, 'depth 21')
  t.equal(queryProblem(parse('{ ...A } fragment A on Query { ...A __typename }'), queryLimits), undefined, 'a fragment cycle is left to validation')
  t.equal(queryProblem(parse('{ ...Missing }'), queryLimits), undefined, 'an unknown fragment is left to validation')
  const fields = (n: number): string => '__typename '.repeat(n)
  t.equal(queryProblem(parse(`{ ... on Query { ${fields(300)} } ${fields(200)} }`), queryLimits), undefined, 'inline fragments count once')
  t.equal(queryProblem(parse(`{ ... on Query { ${fields(301)} } ${fields(200)} }`), queryLimits)?.code, 'QUERY_TOO_COMPLEX', 'and they do count')
  t.equal(queryProblem(parse(`{ ...F } fragment F on Query { ${fields(300)} }`), queryLimits), undefined, 'a fragment counts where it is spread, not where it is defined')
  t.equal(queryProblem(parse(`{ ...F ...F } fragment F on Query { ${fields(251)} }`), queryLimits)?.code, 'QUERY_TOO_COMPLEX', 'and as often as it is spread')
  t.equal(queryProblem(parse(`query A { ${fields(250)} } query B { ${fields(250)} }`), queryLimits), undefined, 'two operations of 250 fields: 500 in the document')
  t.equal(queryProblem(parse(`query A { ${fields(251)} } query B { ${fields(250)} }`), queryLimits)?.code, 'QUERY_TOO_COMPLEX',
    'the limit is per document: validation works on every operation in it, whichever one runs')
  const tree = JSON.parse(JSON.stringify(parse('{ __typename }')))
  t.equal(queryProblem(tree, queryLimits)?.code, 'GRAPHQL_PARSE_FAILED', 'a syntax tree that did not come from the parser')
})

t.test('through the app', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const post = async (payload: string | object, headers: Record<string, string> = {}) =>
    await app.inject({ method: 'POST', url: '/graphql', payload, headers: { 'content-type': 'application/json', ...headers } })

  t.test('a syntax tree without a selection set: 400 with a clear message, token or not', async (t) => {
    const tree = JSON.stringify({ kind: 'Document', definitions: [{ kind: 'OperationDefinition', operation: 'query' }] })
    for (const headers of [{}, { authorization: `Bearer ${issuer.sign()}` }] as Array<Record<string, string>>) {
      const response = await post({ query: tree }, headers)
      t.equal(response.statusCode, 400)
      const error = response.json().errors[0]
      t.equal(error.extensions.code, 'GRAPHQL_PARSE_FAILED')
      t.equal(error.message, 'The query must be GraphQL source text.')
      t.notMatch(response.body, /Cannot read|undefined/)
    }
  })

  t.test('over the limits: 400 QUERY_TOO_COMPLEX before validation, token or not', async (t) => {
    for (const headers of [{}, { authorization: `Bearer ${issuer.sign()}` }] as Array<Record<string, string>>) {
      const response = await post({ query: aliases(MOST + 1) }, headers)
      t.equal(response.statusCode, 400)
      t.equal(response.json().errors[0].extensions.code, 'QUERY_TOO_COMPLEX')
    }
    const tokens = await post({ query: `{ ${'__typename '.repeat(queryLimits.tokens)} }` })
    t.equal(tokens.statusCode, 400, 'more tokens than the parser reads')
    t.match(tokens.json().errors[0].message, /more th.. 2000 tokens/)
  })

  t.test('16,000 aliases (965 KB): 413 before the body is read, and the server answers meanwhile', async (t) => {
    const body = JSON.stringify({ query: aliases(16_000) })
    t.ok(body.length > 900_000)
    const address = await app.listen({ host: '127.0.0.1', port: 0 }).then(() => app.server.address() as AddressInfo)
    const base = `http://127.0.0.1:${address.port}`
    const [big, health] = await Promise.all([
      fetch(`${base}/graphql`, { method: 'POST', body, headers: { 'content-type': 'application/json' } }),
      fetch(`${base}/health`)
    ])
    t.equal(big.status, 413)
    t.same(await big.json(), { data: null, errors: [{ message: 'Request body is too large', extensions: { code: 'FST_ERR_CTP_BODY_TOO_LARGE' } }] })
    t.equal(health.status, 200)
  })

  t.test('the largest introspection an anonymous caller can send is answered, within a bounded size', async (t) => {
    const response = await post({ query: aliases(MOST) })
    t.equal(response.statusCode, 200)
    t.equal(Object.keys(response.json().data).length, MOST)
    // MOST copies of the schema's fields: the answer grows with the schema, not with the caller's wishes.
    t.ok(response.body.length < 1024 * 1024, `${response.body.length} bytes`)
  })

  t.test("GraphiQL's introspection runs without a token, over POST and GET", async (t) => {
    t.equal((await post({ query: INTROSPECTION })).statusCode, 200)
    const get = await app.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent(INTROSPECTION)}` })
    t.equal(get.statusCode, 200)
    t.equal(get.json().data.__schema.queryType.name, 'Query')
  })
})

t.test('GRAPHQL_PUBLIC_INTROSPECTION=false: introspection needs a token too', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, GRAPHQL_PUBLIC_INTROSPECTION: 'false' })
  const anonymous = await app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ __typename }' } })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.json().errors[0].extensions.reason, 'token_missing')
  const withToken = await app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ __typename }' }, headers: { authorization: `Bearer ${issuer.sign()}` } })
  t.same(withToken.json(), { data: { __typename: 'Query' } })
})

t.test("Fastify's own refusals on /graphql keep their status and stable code", async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const send = async (payload: string) => await app.inject({
    method: 'POST', url: '/graphql', payload, headers: { 'content-type': 'application/json', authorization: `Bearer ${issuer.sign()}` }
  })
  const broken = await send('{"query":')
  t.equal(broken.statusCode, 400)
  t.same(broken.json(), { data: null, errors: [{ message: "Body is not valid JSON but content-type is set to 'application/json'", extensions: { code: 'FST_ERR_CTP_INVALID_JSON_BODY' } }] })
  const empty = await send('')
  t.equal(empty.statusCode, 400)
  t.equal(empty.json().errors[0].extensions.code, 'FST_ERR_CTP_EMPTY_JSON_BODY')
  // GraphQL's own errors keep GraphQL's shape
  const unknown = await send('{"query":"{ nope }"}')
  t.equal(unknown.statusCode, 400)
  t.same(unknown.json(), { data: null, errors: [{ message: 'Cannot query field "nope" on type "Query".', locations: [{ line: 1, column: 3 }] }] })
})
