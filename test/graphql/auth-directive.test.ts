// applyAuthDirective on schemas other than ours: it is exported for users' own GraphQL schemas.
import { buildSchema, execute, GraphQLObjectType, GraphQLSchema, GraphQLString, parse, subscribe } from 'graphql'
import t from 'tap'
import { unmetRequirements } from '../../plugins/clerk-auth/auth-object.js'
import { applyAuthDirective, authDirectiveTypeDefs } from '../../plugins/graphql/auth-directive.js'

t.test('a schema that does not declare @auth is returned as it is', async (t) => {
  const schema = buildSchema('type Query { open: String }')
  const resolve = schema.getQueryType()?.getFields().open?.resolve
  t.equal(applyAuthDirective(schema), schema)
  t.equal(schema.getQueryType()?.getFields().open?.resolve, resolve, 'no field wrapped')
})

t.test('fields built in code (no SDL, so no directives) are left alone', async (t) => {
  const auth = buildSchema(`${authDirectiveTypeDefs} type Query { x: String }`).getDirective('auth')
  const query = new GraphQLObjectType({ name: 'Query', fields: { open: { type: GraphQLString, resolve: () => 'open' } } })
  const schema = new GraphQLSchema({ query, directives: auth === undefined || auth === null ? [] : [auth] })
  t.equal(applyAuthDirective(schema), schema)
  const result = await execute({ schema, document: parse('{ open }') })
  t.same(result, { data: { open: 'open' } })
})

t.test('without a caller, a guarded field names every part of its requirement', async (t) => {
  const schema = applyAuthDirective(buildSchema(`${authDirectiveTypeDefs}
    type Query { secret: String @auth(role: "org:admin", plan: "o:pro") open: String }`))
  const context = { reply: { request: { auth: null } }, app: { clerkAuth: { unmet: unmetRequirements } } }
  const result = await execute({ schema, document: parse('{ secret open }'), rootValue: { secret: 's', open: 'o' }, contextValue: context })
  t.same(result.data, { secret: null, open: 'o' })
  t.equal(result.errors?.length, 1)
  t.same(result.errors?.[0]?.extensions, { code: 'FORBIDDEN', missing: { role: 'org:admin', plan: 'o:pro' } })
  t.equal(result.errors?.[0]?.message, 'This needs role org:admin and plan o:pro.')
})

t.test('a typo in an @auth requirement fails at start-up, naming the field', async (t) => {
  const schema = (directive: string): string => `${authDirectiveTypeDefs} type Query { secret: String ${directive} }`
  t.throws(() => applyAuthDirective(buildSchema(schema('@auth(reverification: "sometimes")'))), /Query\.secret: @auth .*reverification/)
  t.throws(() => applyAuthDirective(buildSchema(schema('@auth(role: "")'))), /Query\.secret: @auth .*non-empty string/)
  t.throws(() => applyAuthDirective(buildSchema(schema('@auth'))), /Query\.secret: @auth .*at least one/)
  t.throws(() => buildSchema(schema('@auth(permision: "org:x:read")')), /Unknown argument "permision"/, 'an unknown name is refused by GraphQL itself')
  t.doesNotThrow(() => applyAuthDirective(buildSchema(schema('@auth(permission: "org:x:read")'))))
})

t.test('a subscription field without its own subscribe function streams from the root value, checked on every event', async (t) => {
  const schema = applyAuthDirective(buildSchema(`${authDirectiveTypeDefs}
    type Query { open: String } type Subscription { news: String @auth(role: "org:admin") }`))
  async function * news (): AsyncGenerator<{ news: string }> {
    yield { news: 'first' }
    yield { news: 'second' }
  }
  const run = async (auth: unknown): Promise<unknown[]> => {
    const context = { reply: { request: { auth } }, app: { clerkAuth: { unmet: unmetRequirements } } }
    const stream = await subscribe({ schema, document: parse('subscription { news }'), rootValue: { news }, contextValue: context })
    t.ok(Symbol.asyncIterator in stream, 'the subscription started')
    const events: unknown[] = []
    for await (const event of stream as AsyncIterable<unknown>) events.push(event)
    return events
  }
  const admin = { tokenType: 'session_token', orgId: 'org_1', orgRole: 'org:admin', orgPermissions: [], featureAuthorizations: [] }
  t.same(await run(admin), [{ data: { news: 'first' } }, { data: { news: 'second' } }])
  const events = await run(null) as Array<{ data: unknown, errors: Array<{ extensions: unknown }> }>
  t.equal(events.length, 2)
  for (const event of events) {
    t.same(event.data, { news: null })
    t.same(event.errors[0]?.extensions, { code: 'FORBIDDEN', missing: { role: 'org:admin' } })
  }
})
