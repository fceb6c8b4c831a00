// Clerk's own auth-object vectors (fixtures/clerk-auth-object-vectors.json, from clerk/javascript's backend tests): claims in, auth fields and has() out.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { authFromClaims, decodeOrgPermissions, machineAuthFromClaims, machineAuthFromVerification, meetsReverification, unmetRequirements, type AuthRequirement, type MachineVerification } from '../auth-object.js'

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
  t.same(Object.keys(json).sort(), ['actor', 'claims', 'factorVerificationAge', 'orgId', 'orgPermissions', 'orgRole', 'orgSlug', 'sessionId', 'sessionStatus', 'tokenType', 'userId'])
})

t.test('organization claims that are odd but signed: nothing invented, nothing thrown', async (t) => {
  const v2 = (o: unknown, extra: Record<string, unknown> = {}) => authFromClaims({ sub: 'u', sid: 's', v: 2, o, ...extra })
  t.equal(v2({ id: 'org_1', rol: 'super_org:admin' }).orgRole, 'org:super_org:admin', 'only a leading org: is dropped')
  t.equal(v2({ id: 'org_1', rol: 'org:admin' }).orgRole, 'org:admin')
  t.equal(v2({ id: 'org_1' }).orgRole, undefined, 'no rol, no role')
  t.equal(v2({ id: 'org_1', rol: '' }).orgRole, undefined, 'an empty rol, no role')
  t.equal(v2({ id: 5, slg: '' }).orgId, undefined, 'an id that is not a string')
  t.equal(v2({ id: 'org_1', slg: '' }).orgSlug, undefined, 'an empty slug')
  t.match(v2(null), { orgId: undefined, orgRole: undefined, orgPermissions: undefined }, 'o null')
  t.match(v2('org_1'), { orgId: undefined }, 'o a string')
  t.equal(authFromClaims({ sub: 'u', sid: 's', org_id: '' }).orgId, undefined, 'v1: an empty org_id')
  t.same(authFromClaims({ sub: 'u', sid: 's', org_id: 'org_1', org_permissions: ['org:a:read', 5, null] }).orgPermissions, ['org:a:read'], 'v1: only strings')
  t.same(authFromClaims({ sub: 'u', sid: 's', org_id: 'org_1', org_permissions: 'org:a:read' }).orgPermissions, [], 'v1: not a list')
  t.same(authFromClaims({ sub: 'u', sid: 's', fva: [1, 2, 3] }).factorVerificationAge, null, 'fva of three ages')
  t.same(authFromClaims({ sub: 'u', sid: 's', fva: [-2, 1] }).factorVerificationAge, null, 'an age below -1')
  t.same(authFromClaims({ sub: 'u', sid: 's', fva: [-1, 0] }).factorVerificationAge, [-1, 0])
  t.equal(authFromClaims({ sub: 'u', sid: 's', fea: ':dashboard' }).has({ feature: 'dashboard' }), false, 'an entry without a scope is no entry')
})

t.test('decodeOrgPermissions trims, skips empty entries and ignores what is not a list', async (t) => {
  t.same(decodeOrgPermissions('o:f1', ' read , , manage ', '3'), ['org:f1:read', 'org:f1:manage'])
  t.same(decodeOrgPermissions(' o:f1 , ,o:f2', 'read', '1,1'), ['org:f1:read', 'org:f2:read'])
  t.same(decodeOrgPermissions('o:f1', 5, '1'), [], 'per not a string')
  t.same(decodeOrgPermissions('o:f1', 'read', 1), [], 'fpm not a string')
  t.same(decodeOrgPermissions(7, 'read', '1'), [], 'fea not a string')
})

t.test('reverification at its edges', async (t) => {
  const at = (fva: [number, number], reverification: AuthRequirement['reverification']) =>
    authFromClaims({ sub: 'u', sid: 's', fva }).has({ reverification })
  t.equal(at([10, 1], { level: 'first_factor', afterMinutes: 10 }), false, 'an age equal to afterMinutes is too old')
  t.equal(at([9, 1], { level: 'first_factor', afterMinutes: 10 }), true)
  t.equal(at([100, 5], 'strict'), true, 'second_factor: a recent second factor is enough, whatever the first')
  t.equal(at([100, 50], 'strict'), false)
  t.equal(at([5, -1], 'strict_mfa'), true, 'multi_factor without a second factor: the first stands in')
  t.equal(at([50, -1], 'strict_mfa'), false)
  t.equal(at([5, 50], 'strict_mfa'), false, 'multi_factor with both: both must be recent')
  t.equal(at([50, 5], 'strict_mfa'), false)
})

t.test('the auth object is frozen to the last claim, reads act only as an object, and has() fails closed on odd questions', async (t) => {
  const auth = authFromClaims({ sub: 'u', sid: 's', v: 2, o: { id: 'org_1', rol: 'admin', per: 'read', fpm: '1' }, fea: 'o:f1', act: { sub: 'user_admin', nested: { deep: [1] } } })
  t.ok(Object.isFrozen(auth) && Object.isFrozen(auth.claims) && Object.isFrozen(auth.claims.o) && Object.isFrozen(auth.orgPermissions), 'frozen through and through')
  t.ok(Object.isFrozen((auth.actor as { nested: { deep: number[] } }).nested.deep))
  for (const act of ['user_admin', ['user_admin'], null, 5]) {
    t.equal(authFromClaims({ sub: 'u', sid: 's', act }).actor, null, `act ${JSON.stringify(act)}`)
  }
  t.equal(auth.has(null as never), false)
  t.equal(auth.has('admin' as never), false)
  t.equal(authFromClaims({ sub: '', sid: 's', v: 2, o: { id: 'org_1', rol: 'admin' } }).has({ role: 'admin' }), false, 'no user, no answer')
  for (const asked of [{ role: 5 }, { permission: 5 }, { feature: 5 }, { plan: 5 }, { feature: 'x:f1' }, { plan: 'team:pro' }]) {
    t.equal(auth.has(asked as never), false, JSON.stringify(asked))
  }
  t.equal(auth.has({ role: 'admin' }), true)
  t.equal(auth.has({ feature: 'f1' }), true, 'no scope: any entry')
  const noOrg = authFromClaims({ sub: 'u', sid: 's', org_role: 'org:admin', org_permissions: ['org:f1:read'] })
  t.equal(noOrg.has({ role: 'admin' }), false, 'a role without an active organization')
  t.equal(noOrg.has({ permission: 'org:f1:read' }), false, 'a permission without an active organization')
  const noRole = authFromClaims({ sub: 'u', sid: 's', org_id: 'org_1' })
  t.equal(noRole.has({ role: 'admin' }), false, 'an organization without a role')
})

t.test('reverification rules that make no sense are not met', async (t) => {
  const rule = (afterMinutes: number) => ({ level: 'first_factor' as const, afterMinutes })
  t.equal(meetsReverification('sometimes' as never, [1, 1]), false, 'an unknown preset')
  t.equal(meetsReverification(null as never, [1, 1]), false, 'null')
  t.equal(meetsReverification(5 as never, [1, 1]), false, 'a number')
  t.equal(meetsReverification(rule(Number.POSITIVE_INFINITY), [1, 1]), false, 'no bound at all')
  t.equal(meetsReverification(rule(Number.NaN), [1, 1]), false, 'NaN minutes')
  t.equal(meetsReverification(rule(0), [-2, -1]), false, 'zero minutes, whatever the ages say')
  t.equal(authFromClaims({ sub: 'u', sid: 's', fva: [1, 1] }).has({ reverification: null as never }), false, 'through has()')
  t.equal(meetsReverification('strict', [5, 1]), true, 'a second factor verified a minute ago')
})

t.test('what a requirement leaves unmet, by name', async (t) => {
  const machine = machineAuthFromVerification('oauth_token', { object: 'clerk_idp_oauth_access_token', id: 'oat_1', subject: 'user_1', scopes: ['pings:read'], claims: null, revoked: false, expired: false, expiration: null })
  t.same(unmetRequirements(machine, { scope: 'pings:read', role: undefined }), [], 'a machine: what is asked, not what is named')
  t.same(unmetRequirements(machine, { scope: 'pings:read', role: 'admin' }), ['role'], 'a machine has no role, even with the scope')
  t.same(unmetRequirements(machine, { scope: 'pings:write' }), ['scope'])
  const session = authFromClaims({ sub: 'u', sid: 's', v: 2, o: { id: 'org_1', rol: 'admin', per: '', fpm: '' } })
  t.same(unmetRequirements(session, { role: 'admin', scope: 'pings:read' }), ['scope'], 'a session has no scopes')
  const v1 = authFromClaims({ sub: 'u', sid: 's', org_id: 'org_1', org_role: 'org:admin' })
  t.equal(v1.has({ permission: 'org:f1:read' }), false, 'an organization without a permission list')
})

t.test('machine callers: Clerk\'s fields, with its defaults for what an answer leaves out', async (t) => {
  const m2m = machineAuthFromClaims('m2m_token', { iss: 'https://clerk.example.com', sub: 'mch_1', exp: 2, nbf: 1, iat: 1, jti: 'mt_1', aud: ['mch_2'], custom: 'x' })
  t.same(m2m.claims, { aud: ['mch_2'], custom: 'x' }, 'the registered claims are left out, the others kept')
  t.equal(m2m.id, 'mt_1')
  t.equal(machineAuthFromClaims('m2m_token', { sub: 'mch_1', jti: 5 }).id, null, 'a jti that is not text is none')
  const answer = { id: 'x_1', subject: 'user_1', claims: null, revoked: false, expired: false, expiration: null } as unknown as MachineVerification
  const key = machineAuthFromVerification('api_key', { ...answer, object: 'api_key' })
  t.match(key, { name: '', userId: 'user_1', orgId: null })
  t.same(key.scopes, [], 'no scopes in the answer: none')
  t.match(machineAuthFromVerification('oauth_token', { ...answer, object: 'clerk_idp_oauth_access_token' }), { scopes: [], clientId: '', userId: 'user_1' })
})
