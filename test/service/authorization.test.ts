import t from 'tap'
import { forbiddenMessage, missingPart, requirementProblem } from '../../plugins/clerk-auth/authorization.js'
import { startIssuer } from '../../plugins/clerk-auth/test/support/issuer.js'
import { buildApp } from '../support/app.js'

// v2 claims: member of acme with org:pings:read (bit 0) via fea/o.fpm, and a mask beyond 2^53 on another feature.
const bigPermissions = Array.from({ length: 54 }, (_, i) => `p${i}`).join(',')
const v2WithPing = {
  v: 2,
  fea: 'o:pings,u:dashboard,o:big',
  o: { id: 'org_acme', rol: 'member', slg: 'acme', per: 'read,manage', fpm: '1,0' },
  pla: 'o:pro'
}
const v2Big = { v: 2, fea: 'o:big', o: { id: 'org_big', rol: 'admin', slg: 'big', per: bigPermissions, fpm: '9007199254740993' } }
const v2WithoutPing = { v: 2, fea: 'o:pings', o: { id: 'org_acme', rol: 'member', slg: 'acme', per: 'read,manage', fpm: '2' } }
const v1WithPing = { v: undefined, org_id: 'org_v1', org_role: 'org:admin', org_slug: 'v1co', org_permissions: ['org:pings:read'] }

t.test('authorization on REST and GraphQL with real tokens', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url })
  const bearer = (claims: Record<string, unknown>, header?: Record<string, unknown>) =>
    ({ authorization: `Bearer ${issuer.sign(issuer.sessionClaims(claims), { header })}` })
  const get = async (url: string, headers: Record<string, string> = {}) => await app.inject({ method: 'GET', url, headers })
  const gql = async (query: string, headers: Record<string, string>) =>
    await app.inject({ method: 'POST', url: '/graphql', payload: { query }, headers })

  t.test('/me shows v2 organization fields, with fpm masks beyond 2^53 decoded exactly', async (t) => {
    const sent = bearer({ sub: 'user_v2', ...v2Big })
    const res = await get('/me', sent)
    t.equal(res.statusCode, 200)
    const me = res.json()
    t.match(me, { userId: 'user_v2', sessionId: 'sess_test', sessionStatus: 'active', orgId: 'org_big', orgRole: 'org:admin', orgSlug: 'big' })
    t.same(me.orgPermissions, ['org:big:p0', 'org:big:p53'])
    t.equal(me.claims.sub, 'user_v2')
    t.notOk('has' in me)
    const [header, payload, signature] = sent.authorization.slice('Bearer '.length).split('.') as [string, string, string]
    for (const part of [header, payload, signature]) t.notOk(res.body.includes(part), 'no part of the token sent')
  })

  t.test('/me shows v1 organization fields, and null ones without an organization', async (t) => {
    const v1 = (await get('/me', bearer(v1WithPing))).json()
    t.match(v1, { orgId: 'org_v1', orgRole: 'org:admin', orgSlug: 'v1co', orgPermissions: ['org:pings:read'] })
    const none = (await get('/me', bearer({ fva: [3, -1], act: { sub: 'user_admin' } }))).json()
    t.notOk('orgId' in none && none.orgId !== null, 'no orgId')
    t.same(none.factorVerificationAge, [3, -1])
    t.same(none.actor, { sub: 'user_admin' })
  })

  t.test('GraphQL me shows the same', async (t) => {
    const res = await gql('{ me { userId sessionId orgId orgRole orgSlug orgPermissions actor { sub } } }', bearer({ ...v2WithPing, act: { sub: 'user_admin' } }))
    t.same(res.json(), {
      data: {
        me: { userId: 'user_test', sessionId: 'sess_test', orgId: 'org_acme', orgRole: 'org:member', orgSlug: 'acme', orgPermissions: ['org:pings:read'], actor: { sub: 'user_admin' } }
      }
    })
    const v1 = await gql('{ me { orgId orgRole orgPermissions } }', bearer(v1WithPing))
    t.same(v1.json(), { data: { me: { orgId: 'org_v1', orgRole: 'org:admin', orgPermissions: ['org:pings:read'] } } })
  })

  t.test('a machine token and a pending session get 401 with their own codes', async (t) => {
    const machine = await get('/rest-endpoints/1', bearer({ sub: 'mch_1' }, { cat: 'cl_B7d4PD333AAA' }))
    t.equal(machine.statusCode, 401)
    t.equal(machine.json().code, 'token_type_not_accepted')
    const pending = await get('/me', bearer({ sts: 'pending' }))
    t.equal(pending.statusCode, 401)
    t.equal(pending.json().code, 'session_pending')
    const gqlPending = await gql('{ pingOne(id: "1") }', bearer({ sts: 'pending' }))
    t.equal(gqlPending.statusCode, 401)
    t.equal(gqlPending.json().errors[0].extensions.reason, 'session_pending')
    t.equal((await get('/me', bearer({ sts: 'active' }))).statusCode, 200)
  })

  t.test('REST: 401 without a token, 403 without the permission, 200 with it', async (t) => {
    t.equal((await get('/org-pings/7')).statusCode, 401, 'missing authentication is still 401')
    const forbidden = await get('/org-pings/7', bearer(v2WithoutPing))
    t.equal(forbidden.statusCode, 403)
    t.same(forbidden.json(), {
      statusCode: 403,
      error: 'Forbidden',
      code: 'forbidden',
      message: 'This needs permission org:pings:read.',
      missing: { permission: 'org:pings:read' }
    })
    t.notMatch(forbidden.body, /manage|acme|member/, 'nothing of the caller\'s claims')
    t.equal((await get('/org-pings/7', bearer({}))).statusCode, 403, 'no organization at all')
    const allowed = await get('/org-pings/7', bearer(v2WithPing))
    t.equal(allowed.statusCode, 200)
    t.equal(allowed.body, 'Org Ping #7 for acme!')
    t.equal((await get('/org-pings/7', bearer(v1WithPing))).statusCode, 200, 'v1 tokens too')
  })

  t.test('GraphQL: a forbidden field is null with FORBIDDEN, the other fields still resolve', async (t) => {
    const res = await gql('{ pingOne(id: "1") orgPing(id: "2") }', bearer(v2WithoutPing))
    t.equal(res.statusCode, 200)
    const body = res.json()
    t.same(body.data, { pingOne: 'GraphQL Ping #1!', orgPing: null })
    t.equal(body.errors.length, 1)
    t.same(body.errors[0].path, ['orgPing'])
    t.same(body.errors[0].extensions, { code: 'FORBIDDEN', missing: { permission: 'org:pings:read' } })
    const allowed = await gql('{ pingOne(id: "1") orgPing(id: "2") }', bearer(v2WithPing))
    t.same(allowed.json(), { data: { pingOne: 'GraphQL Ping #1!', orgPing: 'Org Ping #2 for acme!' } })
    const withoutSlug = { ...v2WithPing, o: { id: 'org_acme', rol: 'member', per: 'read,manage', fpm: '1,0' } }
    t.same((await gql('{ orgPing(id: "2") }', bearer(withoutSlug))).json(), { data: { orgPing: 'Org Ping #2 for org_acme!' } }, 'named by its id without a slug')
    const anonymous = await gql('{ orgPing(id: "2") }', {})
    t.equal(anonymous.statusCode, 401, 'missing authentication is still 401')
  })
})

t.test('pending sessions can be accepted on purpose', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_ACCEPT_PENDING_SESSIONS: 'true' })
  const res = await app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${issuer.sign(issuer.sessionClaims({ sts: 'pending' }))}` } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().sessionStatus, 'pending')
})

t.test('a route declaring an unusable requirement fails start-up', async (t) => {
  const issuer = await startIssuer(t)
  await t.rejects(buildApp(t, { CLERK_ISSUER_URL: issuer.url }, {
    extend: (app) => app.get('/typo', { config: { auth: { permision: 'org:x:read' } as never } }, async () => 'x')
  }), /Route GET \/typo: config.auth has an unknown key "permision"/)
  await t.rejects(buildApp(t, { CLERK_ISSUER_URL: issuer.url }, {
    extend: (app) => app.get('/both', { config: { public: true, auth: { role: 'admin' } } }, async () => 'x')
  }), /a public route cannot declare config.auth, config.acceptsToken or config.optionalAuth/)
})

t.test('requirementProblem: every accepted shape, and each refusal in its words', async (t) => {
  const accepted: unknown[] = [
    { role: 'org:admin' }, { permission: 'org:a:read' }, { feature: 'o:pings' }, { plan: 'u:pro' }, { scope: 'pings:read' },
    { role: 'org:admin', permission: 'org:a:read', feature: 'o:pings', plan: 'o:pro', reverification: 'lax' },
    { reverification: 'strict_mfa' }, { reverification: 'strict' }, { reverification: 'moderate' }, { reverification: 'lax' },
    { reverification: { level: 'first_factor', afterMinutes: 10 } },
    { reverification: { level: 'second_factor', afterMinutes: 0.5 } },
    { reverification: { level: 'multi_factor', afterMinutes: 60 } }
  ]
  for (const requirement of accepted) t.equal(requirementProblem(requirement), undefined, JSON.stringify(requirement))

  const badReverification = 'has an invalid reverification (a preset, or { level, afterMinutes })'
  const refused: Array<[unknown, string]> = [
    [null, 'must be an object'],
    ['admin', 'must be an object'],
    [[], 'must be an object'],
    [[{ role: 'admin' }], 'must be an object'],
    [{}, 'must ask for at least one of role, permission, feature, plan, reverification, scope'],
    [{ rol: 'admin' }, 'has an unknown key "rol"'],
    [{ role: '' }, 'needs a non-empty string for "role"'],
    [{ permission: 5 }, 'needs a non-empty string for "permission"'],
    [{ plan: null }, 'needs a non-empty string for "plan"'],
    [{ reverification: 'sometimes' }, badReverification],
    [{ reverification: '' }, badReverification],
    [{ reverification: null }, badReverification],
    [{ reverification: 5 }, badReverification],
    [{ reverification: { afterMinutes: 10 } }, badReverification],
    [{ reverification: { level: 'third_factor', afterMinutes: 10 } }, badReverification],
    [{ reverification: { level: 'first_factor' } }, badReverification],
    [{ reverification: { level: 'first_factor', afterMinutes: 0 } }, badReverification],
    [{ reverification: { level: 'first_factor', afterMinutes: -1 } }, badReverification],
    [{ reverification: { level: 'first_factor', afterMinutes: Infinity } }, badReverification],
    [{ reverification: { level: 'first_factor', afterMinutes: '10' } }, badReverification],
    // a function carrying the right properties is still not a { level, afterMinutes } object
    [{ reverification: Object.assign(() => {}, { level: 'first_factor', afterMinutes: 10 }) }, badReverification]
  ]
  for (const [requirement, problem] of refused) t.equal(requirementProblem(requirement), problem, JSON.stringify(requirement) ?? 'a function')
})

t.test('forbiddenMessage and missingPart name only the unmet part of the requirement', async (t) => {
  const requirement = { role: 'org:admin', permission: 'org:a:read', reverification: { level: 'second_factor', afterMinutes: 10 } } as const
  t.equal(forbiddenMessage(requirement, ['role']), 'This needs role org:admin.')
  t.equal(forbiddenMessage(requirement, ['permission', 'reverification']),
    'This needs permission org:a:read and reverification {"level":"second_factor","afterMinutes":10}.')
  t.same(missingPart(requirement, ['reverification']), { reverification: { level: 'second_factor', afterMinutes: 10 } })
})

t.test('REST routes can require a role, a feature, a plan or a recent reverification', async (t) => {
  const issuer = await startIssuer(t)
  const requirements = {
    '/needs-role': { role: 'admin' },
    '/needs-feature': { feature: 'u:dashboard' },
    '/needs-plan': { plan: 'o:pro' },
    '/needs-reverification': { reverification: 'strict' }
  } as const
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url }, {
    extend: (app) => {
      for (const [url, auth] of Object.entries(requirements)) app.get(url, { config: { auth } }, async () => 'yes')
    }
  })
  const call = async (url: string, claims: Record<string, unknown>) =>
    await app.inject({ url, headers: { authorization: `Bearer ${issuer.sign(issuer.sessionClaims(claims))}` } })
  const org = (rol: string): Record<string, unknown> => ({ o: { id: 'org_1', rol, slg: 'acme', per: '', fpm: '' } })
  const cases: Array<[keyof typeof requirements, Record<string, unknown>, Record<string, unknown>, Record<string, string>]> = [
    ['/needs-role', org('admin'), org('member'), { role: 'admin' }],
    ['/needs-feature', { fea: 'u:dashboard' }, { fea: 'o:dashboard' }, { feature: 'u:dashboard' }],
    ['/needs-plan', { ...org('member'), pla: 'o:pro' }, { pla: 'u:pro' }, { plan: 'o:pro' }],
    ['/needs-reverification', { fva: [2, 3] }, { fva: [2, 30] }, { reverification: 'strict' }]
  ]
  for (const [url, meets, lacks, missing] of cases) {
    const allowed = await call(url, meets)
    t.equal(allowed.statusCode, 200, `${url} with ${JSON.stringify(meets)}`)
    t.equal(allowed.body, 'yes')
    const forbidden = await call(url, lacks)
    t.equal(forbidden.statusCode, 403, `${url} with ${JSON.stringify(lacks)}`)
    t.match(forbidden.json(), { code: 'forbidden', missing })
  }
  t.equal((await app.inject({ url: '/needs-role' })).statusCode, 401, 'no token is still 401, not 403')
})
