// Clerk's Backend API client on its own, against the test issuer on 127.0.0.1: what it refuses before
// a call, what it logs and counts, its budgets by the clock, and what it keeps.
import t, { type Test } from 'tap'
import { createMachineApi, type MachineApi, type MachineApiOptions } from '../machine-api.js'
import { type OpaqueTokenRecord, verificationBody } from '../testing/index.js'
import { startIssuer, type TestIssuer } from './support/issuer.js'
import { recordingLog, testClock } from './support/observe.js'

type Options = Partial<Omit<MachineApiOptions, 'now' | 'log'>>

function machineApi (issuer: TestIssuer, clock: { now: () => number }, options: Options = {}) {
  const recorded = recordingLog()
  const api: MachineApi = createMachineApi({
    apiUrl: issuer.url,
    secretKey: issuer.secretKey,
    timeoutMs: 1000,
    cacheMs: 10_000,
    cacheSize: 100,
    maxCallsPerSecond: 100,
    maxCallsPerClientPerSecond: 100,
    ...options,
    now: clock.now,
    log: recorded.log
  })
  return { api, ...recorded }
}

async function setUp (t: Test, options: Options = {}) {
  const clock = testClock()
  const issuer = await startIssuer(t, { now: clock.now })
  return { clock, issuer, ...machineApi(issuer, clock, options) }
}

const from = (ip: string) => ({ ip })

t.test('strings that cannot be Clerk tokens of their prefix are refused without a call', async (t) => {
  const { api, issuer } = await setUp(t)
  const valid = issuer.apiKey()
  for (const token of [`${valid}!`, `${valid} `, 'ak_two words', `x${valid}`, 'ak_', `ak_${'a'.repeat(600)}`]) {
    t.equal(await api.verify(token, 'api_key', from('198.51.100.1')), 'token_malformed', JSON.stringify(token.slice(0, 20)))
  }
  t.equal(issuer.backendApiCalls().length, 0)
  t.match(await api.verify(valid, 'api_key'), { tokenType: 'api_key' }, 'a caller without an address is a client too')
})

t.test('a spent budget is logged at most once a minute by the clock, with what it refused since', async (t) => {
  const { api, issuer, clock, at } = await setUp(t, { maxCallsPerSecond: 8, maxCallsPerClientPerSecond: 1 })
  const client = from('198.51.100.7')
  t.match(await api.verify(issuer.apiKey(), 'api_key', client), { tokenType: 'api_key' })
  t.equal(await api.verify(issuer.apiKey(), 'api_key', client), 'clerk_api_unavailable')
  t.same(at('warn'), [{
    level: 'warn',
    fields: { scope: 'client', refused: 1, maxCallsPerSecond: 8, maxCallsPerClientPerSecond: 1 },
    msg: 'A client sends more new machine tokens than its share of calls to Clerk\'s Backend API: its new tokens get 503 clerk_api_unavailable'
  }])
  t.equal(await api.verify(issuer.apiKey(), 'api_key', client), 'clerk_api_unavailable')
  clock.advance(59_999)
  t.match(await api.verify(issuer.apiKey(), 'api_key', client), { tokenType: 'api_key' }, 'refilled')
  t.equal(await api.verify(issuer.apiKey(), 'api_key', client), 'clerk_api_unavailable')
  t.equal(at('warn').length, 1, 'not again within the minute')
  clock.advance(1)
  t.equal(await api.verify(issuer.apiKey(), 'api_key', client), 'clerk_api_unavailable')
  t.equal(at('warn').length, 2, 'a minute after the last one')
  t.match(at('warn')[1]?.fields, { scope: 'client', refused: 3 }, 'with the refusals since')
  t.same(api.stats().budgetRefusals, { client: 4, process: 0, fleet: 0 })
})

t.test('a re-check refused by the process budget: counted as the process\'s, the confirmed verdict served', async (t) => {
  const { api, issuer, clock, at } = await setUp(t, { maxCallsPerSecond: 1, maxCallsPerClientPerSecond: 1 })
  const known = issuer.apiKey()
  t.match(await api.verify(known, 'api_key', from('198.51.100.1')), { tokenType: 'api_key' })
  clock.advance(10_000)
  t.match(await api.verify(issuer.apiKey(), 'api_key', from('198.51.100.2')), { tokenType: 'api_key' }, 'a new token takes the one call of this second')
  t.match(api.verify(known, 'api_key', from('198.51.100.1')), { tokenType: 'api_key' }, 'served from what Clerk said, at once')
  t.same(api.stats().budgetRefusals, { client: 0, process: 1, fleet: 0 })
  t.equal(api.stats().staleVerdicts, 1)
  t.equal(at('warn')[0]?.msg, 'Too many new machine tokens: Clerk\'s Backend API is not called more often than this')
  t.match(at('warn')[0]?.fields, { scope: 'process', refused: 1 })
})

t.test('a token that expires within the cache period is never served past its expiration, re-check or not', async (t) => {
  const { api, issuer, clock } = await setUp(t, { maxCallsPerSecond: 1, maxCallsPerClientPerSecond: 1 })
  const soon = issuer.apiKey({ expiration: clock.now() + 3000 })
  t.match(await api.verify(soon, 'api_key', from('198.51.100.1')), { tokenType: 'api_key' })
  clock.advance(3000)
  t.match(await api.verify(issuer.apiKey(), 'api_key', from('198.51.100.2')), { tokenType: 'api_key' }, 'the budget of this second spent')
  t.equal(await api.verify(soon, 'api_key', from('198.51.100.1')), 'clerk_api_unavailable', 'expired: not served stale')
  t.equal(api.stats().staleVerdicts, 0)
})

t.test('why Clerk could not answer: logged with the reason, counted, never cached', async (t) => {
  const { api, issuer, entries } = await setUp(t)
  const faults = [
    ['error', 'status', 'HTTP 500'],
    ['garbage', 'answer', 'an answer that is not JSON'],
    [{ status: 200, body: { object: 'api_key' } }, 'answer', 'an answer that is not a verification'],
    [{ status: 204, raw: '' }, 'status', 'HTTP 204'],
    ['reset', 'unreachable', /\S/]
  ] as const
  for (const [fault, failure, reason] of faults) {
    issuer.backendApiFault = fault
    const before = api.stats().failures[failure]
    t.equal(await api.verify(issuer.apiKey(), 'api_key'), 'clerk_api_unavailable', JSON.stringify(fault))
    t.equal(api.stats().failures[failure], before + 1)
    t.match(entries.at(-1), { level: 'warn', fields: { type: 'api_key', reason }, msg: 'Clerk\'s Backend API could not verify a machine token' })
  }
  t.same(api.stats().failures, { timeout: 0, unreachable: 1, status: 2, answer: 2 })
  t.equal(api.stats().cachedVerdicts, 0, 'no failure is kept')
  t.notOk(entries.some((entry) => entry.level === 'error'), 'no failure blames the secret key')

  issuer.backendApiFault = undefined
  const warnings = entries.length
  t.match(await api.verify(issuer.apiKey(), 'api_key'), { tokenType: 'api_key' })
  t.equal(entries.length, warnings, 'an answer is not logged')
  t.same(api.stats().failures, { timeout: 0, unreachable: 1, status: 2, answer: 2 }, 'nor counted as a failure')
  t.equal(api.stats().cachedVerdicts, 1)
})

t.test('a secret key Clerk refuses (401 or 403) is logged as an error once', async (t) => {
  for (const status of [401, 403]) {
    const { api, issuer, at } = await setUp(t)
    issuer.backendApiFault = { status, body: { errors: [{ message: 'no', code: 'authentication_invalid' }] } }
    t.equal(await api.verify(issuer.apiKey(), 'api_key'), 'clerk_api_unavailable')
    t.equal(await api.verify(issuer.apiKey(), 'api_key'), 'clerk_api_unavailable')
    t.same(at('error'), [{
      level: 'error',
      fields: { status },
      msg: 'Clerk\'s Backend API refused the secret key: check CLERK_SECRET_KEY / CLERK_MACHINE_SECRET_KEY'
    }], `HTTP ${status}`)
  }
})

t.test('without a machine secret key, an opaque M2M token must name this machine in its scopes; other kinds need not', async (t) => {
  const { api, issuer } = await setUp(t, { machineId: 'mch_me' })
  t.match(await api.verify(issuer.opaqueM2mToken({ scopes: ['mch_other', 'mch_me'] }), 'm2m_token'), { tokenType: 'm2m_token' })
  t.equal(await api.verify(issuer.opaqueM2mToken({ scopes: ['mch_other'] }), 'm2m_token'), 'token_audience_invalid')
  const record: OpaqueTokenRecord = { type: 'm2m_token', id: 'mt_1', subject: 'mch_caller', scopes: [], claims: null, expiration: null, revoked: false, createdAt: 0 }
  const { scopes: _scopes, ...withoutScopes } = verificationBody(record, 0)
  issuer.backendApiFault = { status: 200, body: withoutScopes }
  t.equal(await api.verify(issuer.opaqueM2mToken(), 'm2m_token'), 'token_audience_invalid', 'an answer without scopes names no machine')
  issuer.backendApiFault = undefined
  t.match(await api.verify(issuer.apiKey({ scopes: [] }), 'api_key'), { tokenType: 'api_key' }, 'an API key is not addressed to a machine')
})
