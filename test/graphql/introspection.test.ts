import { getIntrospectionQuery, parse } from 'graphql'
import t from 'tap'
import { isIntrospectionOnly, rootSelectsOnly } from '../../plugins/graphql/introspection.js'

const only = (query: string): boolean => isIntrospectionOnly(parse(query))

t.test('introspection-only documents', async (t) => {
  t.ok(only(getIntrospectionQuery()), "GraphiQL's full introspection query")
  t.ok(only('{ __typename }'))
  t.ok(only('{ __type(name: "Query") { name } }'))
  t.ok(only('{ alias: __typename }'), 'an alias does not hide the field name')
  t.ok(only('{ ... on Query { __typename } }'), 'inline fragments are followed')
  t.ok(only('{ ...A } fragment A on Query { ...B } fragment B on Query { __schema { types { name } } }'), 'nested spreads are followed')
  t.ok(only('query A { __typename } query B { __schema { queryType { name } } }'), 'several introspection operations')
})

t.test('anything else needs a token', async (t) => {
  t.notOk(only('{ pingOne(id: "1") }'))
  t.notOk(only('{ __typename pingOne(id: "1") }'))
  t.notOk(only('{ ... on Query { pingOne(id: "1") } }'))
  t.notOk(only('{ ...A } fragment A on Query { pingOne(id: "1") }'))
  t.notOk(only('{ ...Missing }'), 'an undefined fragment fails closed')
  t.notOk(only('query A { __typename } query B { pingOne(id: "1") }'), 'one real operation among introspection ones')
  t.notOk(only('fragment A on Query { __typename }'), 'a document without an operation')
  t.ok(only('{ ...A } fragment A on Query { ...A __typename }'), 'a fragment cycle ends (validation rejects it later)')
})

t.test('what a signed-out caller may select: query fields for queries, others for the rest', async (t) => {
  const optional = new Set(['greeting'])
  t.ok(rootSelectsOnly(parse('{ greeting }'), optional))
  t.notOk(rootSelectsOnly(parse('mutation { greeting }'), optional), 'a mutation is held to the other set')
  t.notOk(rootSelectsOnly(parse('subscription { greeting }'), optional))
  t.ok(rootSelectsOnly(parse('mutation { greeting }'), optional, optional))
  t.notOk(rootSelectsOnly(parse('fragment F on Query { greeting }'), optional), 'no operation, nothing to run')
})
