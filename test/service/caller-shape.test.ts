// One definition of the caller: the auth objects, the REST /me schemas (sessionAuthSchema, machineAuthSchema)
// and the GraphQL Me type must say the same thing, or this fails.
import { buildSchema, getNamedType, getNullableType, isListType, isNonNullType, isObjectType, type GraphQLField, type GraphQLObjectType } from 'graphql'
import t from 'tap'
import { isRefusal, machineAuthSchema, sessionAuthSchema } from '../../plugins/clerk-auth/index.js'
import { schema as sdl } from '../../plugins/graphql/schema.js'
import { m2mClaims, m2mHeader, oauthClaims, oauthHeader } from '../../plugins/clerk-auth/testing/index.js'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { buildApp } from '../support/app.js'

type PropertySchema = { type: string | readonly string[], items?: { type: string } }
type ObjectSchema = { properties: Record<string, PropertySchema>, required: readonly string[] }
const kinds: ObjectSchema[] = [sessionAuthSchema, machineAuthSchema]
const typesOf = (property: PropertySchema): string[] => [property.type].flat()

// GraphQL has no JSON scalar: the raw claims are REST-only, and so is has() (a function).
const REST_ONLY = new Set(['claims'])
const SCALARS: Record<string, string> = { String: 'string', Int: 'integer', Boolean: 'boolean' }

function describeField (field: GraphQLField<unknown, unknown>): { nullable: boolean, kind: string, item?: string } {
  const nullable = !isNonNullType(field.type)
  const inner = getNullableType(field.type)
  if (isListType(inner)) return { nullable, kind: 'array', item: SCALARS[getNamedType(inner).name] ?? 'object' }
  return { nullable, kind: SCALARS[getNamedType(inner).name] ?? (isObjectType(inner) ? 'object' : 'unknown') }
}

t.test('the GraphQL Me type has the fields of both kinds of caller, null where a kind lacks them', async (t) => {
  const me = buildSchema(sdl).getType('Me') as GraphQLObjectType
  const fields = me.getFields()
  const names = new Set(kinds.flatMap((kind) => Object.keys(kind.properties)))
  t.same(Object.keys(fields).sort(), [...names].filter((name) => !REST_ONLY.has(name)).sort())
  for (const [name, field] of Object.entries(fields)) {
    const properties = kinds.map((kind) => kind.properties[name])
    const described = describeField(field)
    // non-null only when every kind has it, always set and never null
    const alwaysThere = kinds.every((kind) => kind.required.includes(name) && !typesOf(kind.properties[name] as PropertySchema).includes('null'))
    t.equal(described.nullable, !alwaysThere, `${name}: nullability`)
    for (const property of properties) {
      if (property === undefined) continue
      t.ok(typesOf(property).includes(described.kind), `${name}: ${described.kind} in ${typesOf(property).join('|')}`)
      if (described.item !== undefined) t.equal(described.item, property.items?.type, `${name}: item type`)
    }
  }
})

t.test('each auth object carries exactly its schema\'s fields, and /me answers them', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const session = issuer.sign(issuer.sessionClaims({ o: { id: 'org_1', rol: 'admin', slg: 'acme', per: 'read', fpm: '1' }, fea: 'o:pings', fva: [1, -1], act: { sub: 'user_admin' } }))
  const m2m = issuer.sign(m2mClaims({ issuer: issuer.url, machineId: 'mch_caller', targets: ['mch_api'] }), { header: m2mHeader })
  const oauth = issuer.sign(oauthClaims({ issuer: issuer.url, userId: 'user_1', clientId: 'client_1', scopes: ['pings:read'] }), { header: oauthHeader })
  const cases: Array<[string, ObjectSchema, Record<string, unknown>]> = [
    [session, sessionAuthSchema, { tokenType: 'session_token', orgRole: 'org:admin', orgPermissions: ['org:pings:read'] }],
    [m2m, machineAuthSchema, { tokenType: 'm2m_token', subject: 'mch_caller', machineId: 'mch_caller', scopes: ['mch_api'], claims: { aud: ['mch_api'], scopes: 'mch_api' } }],
    [oauth, machineAuthSchema, { tokenType: 'oauth_token', subject: 'user_1', userId: 'user_1', clientId: 'client_1', scopes: ['pings:read'] }]
  ]
  for (const [token, schema, expected] of cases) {
    const auth = await app.clerkAuth.verifier.verify(token, ['session_token', 'm2m_token', 'oauth_token'])
    if (isRefusal(auth)) throw new Error(`refused: ${auth}`)
    const fields = Object.keys(auth).filter((name) => name !== 'has')
    t.same(fields.filter((name) => !(name in schema.properties)), [], `${auth.tokenType}: no field outside the schema`)
    t.same(schema.required.filter((name) => !fields.includes(name)), [], `${auth.tokenType}: every required field`)
    const res = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
    t.same(Object.keys(res.json()).sort(), fields.sort(), `${auth.tokenType}: /me answers every field`)
    t.match(res.json(), expected)
  }
})
