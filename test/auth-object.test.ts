// Clerk's own vectors (test/fixtures, copied from shared/clerk/auth-object-vectors.json): claims in, auth fields and has() out.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { authFromClaims, decodeOrgPermissions, meetsReverification, type AuthRequirement } from '../plugins/clerk-auth/auth-object.js'

const vectors = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/clerk-auth-object-vectors.json'), 'utf8'))

interface ClaimsCase { claims: Record<string, unknown>, derived?: Record<string, unknown>, has?: Array<[AuthRequirement, boolean]> }

for (const name of ['v1_no_org', 'v1_org', 'v1_org_legacy_role_without_prefix', 'v2_org', 'v2_billing', 'v2_no_org']) {
  const vector = vectors[name] as ClaimsCase
  t.test(name, async (t) => {
    const auth = authFromClaims(vector.claims)
    t.equal(auth.userId, 'userId')
    t.equal(auth.sessionId, 'sessionId')
    t.same(auth.actor, { sub: 'actor' })
    for (const [field, expected] of Object.entries(vector.derived ?? {})) {
      t.same(auth[field as keyof typeof auth], expected === 'undefined' ? undefined : expected, `derived ${field}`)
    }
    for (const [params, expected] of vector.has ?? []) {
      t.equal(auth.has(params), expected, `has(${JSON.stringify(params)})`)
    }
  })
}

t.test('v1 organization fields', async (t) => {
  const auth = authFromClaims(vectors.v1_org.claims)
  t.equal(auth.orgId, 'orgId')
  t.equal(auth.orgRole, 'org:admin')
  t.equal(auth.orgSlug, 'orgSlug')
  t.same(auth.orgPermissions, ['org:f1:read', 'org:f2:manage'])
  const none = authFromClaims(vectors.v1_no_org.claims)
  t.same([none.orgId, none.orgRole, none.orgSlug, none.orgPermissions], [undefined, undefined, undefined, undefined])
})

t.test('v2 permission decoding', async (t) => {
  const permissionNames = Array.from({ length: 54 }, (_, i) => `permission_${i}`).join(',')
  for (const vector of vectors.v2_permission_decoding as Array<Record<string, unknown>>) {
    const per = typeof vector.per === 'string' && vector.per.startsWith('permission_0..') ? permissionNames : vector.per
    const masks = Array.isArray(vector.fpm) ? vector.fpm : [vector.fpm]
    for (const fpm of masks) {
      const o: Record<string, unknown> = { id: 'orgId', rol: 'admin', slg: 'orgSlug' }
      if (vector.o_without_per_fpm !== true) Object.assign(o, { per, fpm })
      const auth = authFromClaims({ sub: 'userId', sid: 'sessionId', v: 2, fea: vector.fea, o })
      t.same(auth.orgPermissions, vector.orgPermissions, `fea=${String(vector.fea)} fpm=${String(fpm)}`)
      if (vector.orgRole !== undefined) t.equal(auth.orgRole, vector.orgRole)
    }
  }
  t.same(decodeOrgPermissions('o:a', 'read', ' 1 '), ['org:a:read'], 'spaces around a mask are tolerated')
  t.same(decodeOrgPermissions('o:a', 'read', '0x1'), [], 'hex is malformed')
  t.same(decodeOrgPermissions('o:a', 'read', 1), [], 'a number instead of a string gives nothing')
})

t.test('has() fails closed', async (t) => {
  const auth = authFromClaims(vectors.v2_billing.claims)
  t.equal(auth.has({}), false, 'nothing asked')
  t.equal(auth.has(null as never), false)
  t.equal(auth.has({ role: 'member', permission: 'org:reservations:manage' }), true, 'two asked, both hold')
  t.equal(auth.has({ role: 'admin', permission: 'org:reservations:manage' }), false, 'two asked, one fails')
  t.equal(auth.has({ role: 'member', feature: 'user:dashboard' }), true)
  t.equal(auth.has({ role: 'member', feature: 'org:dashboard' }), false, 'every dimension asked must hold')
  t.equal(auth.has({ feature: 'team:reservations' }), false, 'an unknown scope is false')
  t.equal(auth.has({ plan: 'organization:business' }), true)
  t.equal(auth.has({ permission: 42 as never }), false)
})

t.test('reverification', async (t) => {
  const at = (fva: [number, number], reverification: AuthRequirement['reverification']) =>
    authFromClaims({ sub: 'u', sid: 's', fva }).has({ reverification })
  t.equal(at([5, 5], 'strict'), true)
  t.equal(at([5, 11], 'strict'), false, 'second factor too old')
  t.equal(at([5, -1], 'strict'), true, 'no second factor enrolled: the first stands in')
  t.equal(at([5, 9], 'strict_mfa'), true)
  t.equal(at([11, 9], 'strict_mfa'), false, 'multi-factor needs both recent')
  t.equal(at([59, 59], 'moderate'), true)
  t.equal(at([60, 60], 'moderate'), false, 'afterMinutes must be greater than the age')
  t.equal(at([1000, 1439], 'lax'), true)
  t.equal(at([1, 1], { level: 'first_factor', afterMinutes: 2 }), true)
  t.equal(at([-1, 1], { level: 'first_factor', afterMinutes: 2 }), false)
  t.equal(at([1, 1], 'sometimes' as never), false, 'an unknown preset is false')
  t.equal(at([1, 1], { level: 'first_factor', afterMinutes: 0 }), false)
  t.equal(at([1, 1], { level: 'third_factor' as never, afterMinutes: 5 }), false)
  t.equal(authFromClaims({ sub: 'u', sid: 's' }).has({ reverification: 'lax' }), false, 'no fva: false')
  t.equal(meetsReverification('lax', null), false)
  t.same(authFromClaims({ sub: 'u', sid: 's', fva: [1, 'x'] }).factorVerificationAge, null, 'a malformed fva is ignored')
})

t.test('session status and JSON form', async (t) => {
  t.equal(authFromClaims({ sub: 'u', sid: 's' }).sessionStatus, 'active')
  t.equal(authFromClaims({ sub: 'u', sid: 's', sts: 'pending' }).sessionStatus, 'pending')
  const json = JSON.parse(JSON.stringify(authFromClaims(vectors.v2_org.claims)))
  t.notOk('has' in json, 'has() is not serialized')
  t.same(Object.keys(json).sort(), ['actor', 'claims', 'factorVerificationAge', 'orgId', 'orgPermissions', 'orgRole', 'orgSlug', 'sessionId', 'sessionStatus', 'userId'])
})
