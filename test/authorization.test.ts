import t from 'tap'
import { requirementProblem } from '../plugins/clerk-auth/authorization.js'
import { buildApp, startIssuer } from './helper.js'

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
    ({ authorization: `Bearer ${issuer.sign(issuer.claims(claims), { header })}` })
  const get = async (url: string, headers: Record<string, string> = {}) => await app.inject({ method: 'GET', url, headers })
  const gql = async (query: string, headers: Record<string, string>) =>
    await app.inject({ method: 'POST', url: '/graphql', payload: { query }, headers })

  t.test('/me shows v2 organization fields, with fpm masks beyond 2^53 decoded exactly', async (t) => {
    const sent = bearer({ sub: 'user_v2', ...v2Big })
    const res = await get('/me', sent)
    t.equal(res.statusCode, 200)
    const me = res.json()
    t.match(me, { userId: 'user_v2', sessionId: 'sess_123', sessionStatus: 'active', orgId: 'org_big', orgRole: 'org:admin', orgSlug: 'big' })
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
        me: { userId: 'user_123', sessionId: 'sess_123', orgId: 'org_acme', orgRole: 'org:member', orgSlug: 'acme', orgPermissions: ['org:pings:read'], actor: { sub: 'user_admin' } }
      }
    })
    const v1 = await gql('{ me { orgId orgRole orgPermissions } }', bearer(v1WithPing))
    t.same(v1.json(), { data: { me: { orgId: 'org_v1', orgRole: 'org:admin', orgPermissions: ['org:pings:read'] } } })
  })

  t.test('a machine token and a pending session get 401 with their own codes', async (t) => {
    const machine = await get('/me', bearer({}, { cat: 'cl_B7d4PD333AAA' }))
    t.equal(machine.statusCode, 401)
    t.equal(machine.json().code, 'token_not_session')
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
    const anonymous = await gql('{ orgPing(id: "2") }', {})
    t.equal(anonymous.statusCode, 401, 'missing authentication is still 401')
  })
})

t.test('pending sessions can be accepted on purpose', async (t) => {
  const issuer = await startIssuer(t)
  const app = await buildApp(t, { CLERK_ISSUER_URL: issuer.url, CLERK_ACCEPT_PENDING_SESSIONS: 'true' })
  const res = await app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${issuer.sign(issuer.claims({ sts: 'pending' }))}` } })
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
  }), /a public route cannot require config.auth/)
})

t.test('requirementProblem', async (t) => {
  t.equal(requirementProblem({ permission: 'org:a:read' }), undefined)
  t.equal(requirementProblem({ reverification: 'strict' }), undefined)
  t.equal(requirementProblem({ reverification: { level: 'second_factor', afterMinutes: 5 } }), undefined)
  t.match(requirementProblem({}), /at least one/)
  t.match(requirementProblem('admin'), /must be an object/)
  t.match(requirementProblem({ role: '' }), /non-empty string/)
  t.match(requirementProblem({ reverification: 'sometimes' }), /invalid reverification/)
  t.match(requirementProblem({ reverification: { level: 'second_factor', afterMinutes: -1 } }), /invalid reverification/)
})
