// Revocations on their own: what each ends, for how long, and within what memory; and the Clerk
// events read into them.
import t from 'tap'
import { authFromClaims, machineAuthFromClaims, machineAuthFromVerification } from '../auth-object.js'
import { readEvent, revocationOf } from '../clerk-events.js'
import { orgRole, readRevocation, Revocations } from '../revocations.js'
import { webhookEvent } from '../testing/index.js'

const T = 1_700_000_000_000
const session = (claims: Record<string, unknown> = {}) =>
  authFromClaims({ sub: 'user_1', sid: 'sess_1', iat: T / 1000 - 10, exp: T / 1000 + 50, ...claims })
const inOrg = (role: string, claims: Record<string, unknown> = {}) => session({ v: 2, o: { id: 'org_1', rol: role }, ...claims })

t.test('a session ends whatever its tokens\' issue time; a user, membership or organization only for tokens issued before the event', async (t) => {
  const revocations = new Revocations(60_000, 100)
  revocations.add({ kind: 'session', sessionId: 'sess_1' }, T)
  t.ok(revocations.revokes(session(), T))
  t.ok(revocations.revokes(session({ iat: T / 1000 + 30 }), T), 'a token issued after the end of its session')
  t.notOk(revocations.revokes(session({ sid: 'sess_2' }), T))

  revocations.add({ kind: 'user', userId: 'user_2', at: T }, T)
  t.ok(revocations.revokes(session({ sub: 'user_2', sid: 'sess_x', iat: T / 1000 }), T), 'issued the same second as the event')
  t.notOk(revocations.revokes(session({ sub: 'user_2', sid: 'sess_x', iat: T / 1000 + 1 }), T), 'issued after it')
  t.notOk(revocations.revokes(session({ sub: 'user_3', sid: 'sess_x' }), T), 'another user')

  revocations.add({ kind: 'organization', orgId: 'org_9', at: T }, T)
  t.ok(revocations.revokes(session({ sid: 'sess_x', v: 2, o: { id: 'org_9', rol: 'member' } }), T))
  t.notOk(revocations.revokes(session({ sid: 'sess_x', v: 2, o: { id: 'org_9', rol: 'member' }, iat: T / 1000 + 1 }), T), 'issued after')
  t.notOk(revocations.revokes(session({ sid: 'sess_x' }), T), 'no active organization')
  t.equal(revocations.size, 3)
})

t.test('a membership change refuses the roles that no longer hold, in v1 and v2 tokens', async (t) => {
  const revocations = new Revocations(60_000, 100)
  revocations.add({ kind: 'membership', userId: 'user_1', orgId: 'org_1', at: T, role: 'org:member' }, T)
  const other = { sid: 'sess_x' }
  t.ok(revocations.revokes(inOrg('admin', other), T))
  t.notOk(revocations.revokes(inOrg('member', other), T))
  t.notOk(revocations.revokes(session({ ...other, org_id: 'org_1', org_role: 'member' }), T), 'v1, without the prefix')
  t.ok(revocations.revokes(session({ ...other, org_id: 'org_1', org_role: 'org:admin' }), T), 'v1, with it')
  t.notOk(revocations.revokes(inOrg('admin', { ...other, sub: 'user_2' }), T), 'another member')
  t.notOk(revocations.revokes(inOrg('admin', { ...other, iat: T / 1000 + 1 }), T), 'issued after the change')

  revocations.add({ kind: 'membership', userId: 'user_1', orgId: 'org_1', at: T + 1000 }, T)
  t.ok(revocations.revokes(inOrg('member', other), T), 'removed: no role holds')
  revocations.add({ kind: 'membership', userId: 'user_1', orgId: 'org_1', at: T + 500, role: 'org:member' }, T)
  t.ok(revocations.revokes(inOrg('member', other), T), 'an older event delivered late changes nothing')
  t.equal(orgRole('admin'), 'org:admin')
  t.equal(orgRole('org:admin'), 'org:admin')
  t.equal(orgRole(undefined), undefined)
})

t.test('machine tokens: a user\'s revocation ends their OAuth tokens and API keys, which do not say when they were issued', async (t) => {
  const revocations = new Revocations(60_000, 100)
  const oauth = machineAuthFromClaims('oauth_token', { sub: 'user_1', client_id: 'client_1', scp: [], iat: T / 1000 + 60 })
  const machine = machineAuthFromClaims('m2m_token', { sub: 'mch_1', iat: T / 1000 })
  const apiKey = machineAuthFromVerification('api_key', { object: 'api_key', id: 'ak_id', subject: 'user_1', scopes: [], claims: null, revoked: false, expired: false, expiration: null })
  t.notOk(revocations.revokes(oauth, T), 'nothing held')
  revocations.add({ kind: 'user', userId: 'user_1', at: T }, T)
  t.ok(revocations.revokes(oauth, T))
  t.ok(revocations.revokes(apiKey, T))
  t.notOk(revocations.revokes(machine, T), 'a machine is no user')
  revocations.add({ kind: 'session', sessionId: 'sess_1' }, T)
  t.notOk(revocations.revokes(machineAuthFromClaims('oauth_token', { sub: 'user_2', client_id: 'client_1', scp: [] }), T), 'sessions and other users are not machine tokens\' business')
})

t.test('entries live retentionMs, are pruned oldest first, and past maxEntries the oldest is dropped and counted', async (t) => {
  const revocations = new Revocations(60_000, 3)
  revocations.add({ kind: 'session', sessionId: 'sess_1' }, T)
  revocations.add({ kind: 'session', sessionId: 'sess_2' }, T + 10_000)
  t.ok(revocations.revokes(session(), T + 59_999))
  t.notOk(revocations.revokes(session(), T + 60_000), 'forgotten at its time')
  t.equal(revocations.size, 1, 'and dropped when read')
  revocations.add({ kind: 'session', sessionId: 'sess_3' }, T + 70_000)
  t.equal(revocations.size, 1, 'adding prunes what has expired')
  revocations.add({ kind: 'session', sessionId: 'sess_4' }, T + 70_000)
  revocations.add({ kind: 'session', sessionId: 'sess_5' }, T + 70_000)
  t.equal(revocations.evicted, 0)
  revocations.add({ kind: 'session', sessionId: 'sess_6' }, T + 70_000)
  t.equal(revocations.size, 3)
  t.equal(revocations.evicted, 1)
  t.notOk(revocations.revokes(session({ sid: 'sess_3' }), T + 70_000), 'the oldest went')
  t.ok(revocations.revokes(session({ sid: 'sess_6' }), T + 70_000))
  t.equal(revocations.add({ kind: 'session', sessionId: 'sess_4' }, T + 80_000), false)
  revocations.add({ kind: 'session', sessionId: 'sess_7' }, T + 80_000)
  t.notOk(revocations.revokes(session({ sid: 'sess_4' }), T + 80_000), 'a repeated revocation keeps its place (and its time): it is still the oldest')
  t.ok(revocations.revokes(session({ sid: 'sess_5' }), T + 80_000))
  t.equal(revocations.evicted, 2)
})

t.test('add() says whether a revocation was new: the same event again, or an older one, changes nothing', async (t) => {
  const revocations = new Revocations(60_000, 100)
  t.equal(revocations.add({ kind: 'session', sessionId: 'sess_1' }, T), true)
  t.equal(revocations.add({ kind: 'session', sessionId: 'sess_1' }, T + 1000), false, 'the same session again')
  t.equal(revocations.add({ kind: 'user', userId: 'user_1', at: T }, T), true)
  t.equal(revocations.add({ kind: 'user', userId: 'user_1', at: T }, T), false, 'the same event again')
  t.equal(revocations.add({ kind: 'user', userId: 'user_1', at: T - 1 }, T), false, 'an older one')
  t.equal(revocations.add({ kind: 'user', userId: 'user_1', at: T + 1 }, T), true, 'a newer one')
  t.equal(revocations.add({ kind: 'membership', userId: 'user_1', orgId: 'org_1', at: T, role: 'org:member' }, T), true)
  t.equal(revocations.add({ kind: 'membership', userId: 'user_1', orgId: 'org_1', at: T, role: 'org:member' }, T), false)
  t.equal(revocations.add({ kind: 'membership', userId: 'user_1', orgId: 'org_1', at: T, role: 'org:admin' }, T), true, 'another role at the same time is news')
  t.equal(revocations.add({ kind: 'membership', userId: 'user_1', orgId: 'org_1', at: T }, T), true, 'and so is the membership ending')
  t.equal(revocations.size, 3)

  const expired = new Revocations(60_000, 100)
  expired.add({ kind: 'user', userId: 'user_1', at: T }, T)
  t.equal(expired.add({ kind: 'user', userId: 'user_1', at: T }, T + 60_000), true, 'once forgotten, the same event is news again')
})

t.test('readRevocation() takes what matches the schema and nothing else', async (t) => {
  for (const revocation of [
    { kind: 'session', sessionId: 'sess_1' },
    { kind: 'user', userId: 'user_1', at: T },
    { kind: 'membership', userId: 'user_1', orgId: 'org_1', at: T },
    { kind: 'membership', userId: 'user_1', orgId: 'org_1', at: T, role: 'org:admin' },
    { kind: 'organization', orgId: 'org_1', at: T }
  ]) t.same(readRevocation(revocation), revocation, revocation.kind)
  for (const junk of [
    null, 'sess_1', [], {},
    { kind: 'session' },
    { kind: 'session', sessionId: '' },
    { kind: 'session', sessionId: 'x'.repeat(257) },
    { kind: 'session', sessionId: 'sess_1', extra: true },
    { kind: 'user', userId: 'user_1' },
    { kind: 'user', userId: 'user_1', at: '1' },
    { kind: 'membership', userId: 'user_1', at: T },
    { kind: 'membership', userId: 'user_1', orgId: 'org_1', at: T, role: 5 },
    { kind: 'organization', at: T },
    { kind: 'tenant', orgId: 'org_1', at: T }
  ]) t.equal(readRevocation(junk), undefined, JSON.stringify(junk))
  t.equal(readRevocation({ kind: 'session', sessionId: 'x'.repeat(256) })?.kind, 'session', 'ids up to 256 characters')
})

t.test('Clerk\'s events: which end access, and what of them is read', async (t) => {
  const read = (type: string, input = {}, timestamp = T) => {
    const event = readEvent(webhookEvent(type, input, timestamp), T + 5000)
    return event === undefined ? 'no event' : revocationOf(event)
  }
  t.same(read('session.revoked', { sessionId: 'sess_9' }), { kind: 'session', sessionId: 'sess_9' })
  t.same(read('session.ended'), { kind: 'session', sessionId: 'sess_test' })
  t.same(read('session.removed'), { kind: 'session', sessionId: 'sess_test' })
  t.same(read('session.created'), undefined, 'a new session ends nothing')
  t.same(read('user.deleted', { userId: 'user_9' }), { kind: 'user', userId: 'user_9', at: T })
  t.same(read('user.updated', { banned: true }), { kind: 'user', userId: 'user_test', at: T })
  t.same(read('user.updated', { data: { locked: true } }), { kind: 'user', userId: 'user_test', at: T }, 'locked')
  t.same(read('user.updated', { banned: false }), undefined)
  t.same(read('user.updated', { data: { banned: 'yes' } }), undefined, 'only banned: true')
  t.same(read('organizationMembership.deleted', { userId: 'user_9', orgId: 'org_9' }), { kind: 'membership', userId: 'user_9', orgId: 'org_9', at: T })
  t.same(read('organizationMembership.updated', { role: 'admin' }), { kind: 'membership', userId: 'user_test', orgId: 'org_test', at: T, role: 'org:admin' })
  t.strictSame(read('organizationMembership.updated', { data: { role: 42 } }), { kind: 'membership', userId: 'user_test', orgId: 'org_test', at: T }, 'an unreadable role: no role holds')
  t.strictSame(read('organizationMembership.updated', { data: { role: '' } }), { kind: 'membership', userId: 'user_test', orgId: 'org_test', at: T })
  t.strictSame(read('organizationMembership.updated', { data: { role: 'r'.repeat(253) } }), { kind: 'membership', userId: 'user_test', orgId: 'org_test', at: T }, 'nor one longer than any id')
  t.match(read('organizationMembership.updated', { data: { role: 'r'.repeat(252) } }), { role: `org:${'r'.repeat(252)}` })
  t.same(read('organizationMembership.created'), undefined)
  t.same(read('organization.deleted', { orgId: 'org_9' }), { kind: 'organization', orgId: 'org_9', at: T })
  t.same(read('organization.updated'), undefined)

  t.same(read('session.revoked', { data: { id: 'user_1' } }), undefined, 'an id of another kind')
  t.same(read('session.revoked', { data: { id: 'sess_' } }), undefined, 'a prefix alone')
  t.same(read('session.revoked', { data: { id: `sess_${'x'.repeat(252)}` } }), undefined, 'an id longer than any of Clerk\'s')
  t.same(read('session.revoked', { data: { id: `sess_${'x'.repeat(251)}` } }), { kind: 'session', sessionId: `sess_${'x'.repeat(251)}` })
  t.same(read('user.deleted', { data: { id: 7 } }), undefined)
  t.same(read('user.deleted', { data: { id: 'org_1' } }), undefined, 'a user event naming an organization')
  t.same(read('organizationMembership.deleted', { data: { public_user_data: { user_id: 'org_1' }, organization: { id: 'org_1' } } }), undefined, 'a membership whose user is not a user')
  t.same(read('organizationMembership.deleted', { data: { public_user_data: null } }), undefined)
  t.same(read('organizationMembership.deleted', { data: { organization: ['org_1'] } }), undefined)
  t.same(read('organizationMembership.deleted', { data: { organization: { id: 'user_1' } } }), undefined)
  t.same(read('organization.deleted', { orgId: 'orgx' }), undefined)

  t.same(read('user.deleted', {}, 0), { kind: 'user', userId: 'user_test', at: T + 5000 }, 'no usable timestamp: the signed send time')
  t.same(read('user.deleted', {}, 1.5), { kind: 'user', userId: 'user_test', at: T + 5000 })
  t.equal(readEvent({ type: 'user.deleted' }, T), undefined, 'no data')
  t.equal(readEvent({ type: 1, data: {} }, T), undefined)
  t.equal(readEvent({ type: 'user.deleted', data: [] }, T), undefined)
  t.equal(readEvent(null, T), undefined)
  t.equal(readEvent([], T), undefined)
})
