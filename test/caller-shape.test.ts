// One definition of the caller: the auth object, the REST /me schema (authObjectSchema) and the
// GraphQL Me type must say the same thing, or this fails.
import { buildSchema, getNamedType, getNullableType, isListType, isNonNullType, isObjectType, type GraphQLField, type GraphQLObjectType } from 'graphql'
import t from 'tap'
import { authObjectSchema, isRefusal } from '../plugins/clerk-auth/index.js'
import { schema as sdl } from '../plugins/graphql/schema.js'
import { buildApp, startIssuer } from './helper.js'

type PropertySchema = { type: string | readonly string[], items?: { type: string } }
const properties = authObjectSchema.properties as Record<string, PropertySchema>
const required = new Set<string>(authObjectSchema.required)
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

t.test('the GraphQL Me type has the fields, kinds and nullability of authObjectSchema', async (t) => {
  const me = buildSchema(sdl).getType('Me') as GraphQLObjectType
  const fields = me.getFields()
  t.same(Object.keys(fields).sort(), Object.keys(properties).filter((name) => !REST_ONLY.has(name)).sort())
  for (const [name, field] of Object.entries(fields)) {
    const property = properties[name] as PropertySchema
    const described = describeField(field)
    const types = typesOf(property)
    t.equal(described.nullable, !required.has(name) || types.includes('null'), `${name}: nullability`)
    t.ok(types.includes(described.kind), `${name}: ${described.kind} in ${types.join('|')}`)
    if (described.item !== undefined) t.equal(described.item, property.items?.type, `${name}: item type`)
  }
})

t.test('the auth object carries exactly the schema\'s fields, and /me answers them', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const token = issuer.sign(issuer.claims({ o: { id: 'org_1', rol: 'admin', slg: 'acme', per: 'read', fpm: '1' }, fea: 'o:pings', fva: [1, -1], act: { sub: 'user_admin' } }))
  const res = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  const auth = await app.clerkAuth.verifier.verify(token)
  if (isRefusal(auth)) throw new Error(`refused: ${auth}`)
  t.same(Object.keys(auth).sort(), Object.keys(properties).sort(), 'the auth object\'s own fields are the schema\'s')
  t.same(Object.keys(res.json()).sort(), Object.keys(properties).sort(), '/me answers every field')
  t.equal(res.json().orgRole, 'org:admin')
  t.same(res.json().orgPermissions, ['org:pings:read'])
})
