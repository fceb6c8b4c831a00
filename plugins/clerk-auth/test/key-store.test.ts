// The key store on its own, against a real issuer on 127.0.0.1: what it logs and when, its clock, its generations.
import { createPublicKey, type KeyObject } from 'node:crypto'
import t, { type Test } from 'tap'
import { createJwksKeyStore, createStaticKeyStore, type JwksKeyStoreOptions, type KeyStore } from '../key-store.js'
import { generateSigningKey } from '../testing/index.js'
import { startIssuer, type TestIssuer, testKeys } from './support/issuer.js'
import { type LogEntry, recordingLog, testClock } from './support/observe.js'

function openStore (t: Test, issuer: TestIssuer, options: Partial<JwksKeyStoreOptions> & Pick<JwksKeyStoreOptions, 'log'>): KeyStore {
  const store = createJwksKeyStore({
    issuer: issuer.url,
    timeoutMs: 1000,
    refreshIntervalMs: 60_000,
    unknownKidCooldownMs: 60_000,
    maxStaleMs: 120_000,
    minRetryMs: 2,
    maxRetryMs: 4,
    ...options
  })
  t.teardown(store.close)
  return store
}

const loaded = (entry: LogEntry): boolean => entry.msg === 'Issuer signing keys loaded'
/** The modulus of a key the store hands out, to tell which published key it is. */
const modulus = (key: KeyObject | Promise<KeyObject>): string | undefined => (key as KeyObject).export({ format: 'jwk' }).n

t.test('the static key store: the one key for any kid, always fresh, one generation, nothing to close', async (t) => {
  const key = createPublicKey(testKeys()[0].privateKey)
  const store = createStaticKeyStore(key)
  t.equal(store.getKey('any kid at all'), key)
  t.equal(store.isFreshAt(Number.MAX_SAFE_INTEGER), true)
  t.equal(store.generation(), 0)
  t.doesNotThrow(() => store.close())
  t.equal(store.getKey(''), key, 'still serves after close: there is nothing to stop')
})

t.test('fresh up to exactly maxStaleMs after the load, by the clock it was given', async (t) => {
  const issuer = await startIssuer(t)
  const clock = testClock(1_000_000)
  const { log, next } = recordingLog()
  const first = next(loaded)
  const store = openStore(t, issuer, { log, now: clock.now, maxStaleMs: 500 })
  t.equal(store.isFreshAt(clock.now()), false, 'nothing loaded yet')
  await first
  t.equal(store.isFreshAt(1_000_000), true)
  t.equal(store.isFreshAt(1_000_500), true, 'the last allowed millisecond')
  t.equal(store.isFreshAt(1_000_501), false)
})

t.test('loads log what changed, and only when something did', async (t) => {
  const [keyA, keyB] = testKeys()
  const keyC = generateSigningKey()
  const issuer = await startIssuer(t, { keys: [keyA] })
  const clock = testClock()
  const { log, next, at } = recordingLog()
  const first = next(loaded)
  // Unknown kids refetch at once (no cooldown): each getKey of an unknown kid is one refresh.
  const store = openStore(t, issuer, { log, now: clock.now, unknownKidCooldownMs: 0 })
  const refresh = async (): Promise<void> => { await t.rejects(async () => await store.getKey('ins_unknown'), { code: 'token_key_unknown' }) }
  t.match((await first).fields, { issuer: issuer.url, keys: 1, added: 1, removed: 0, replaced: 0, skipped: 0 })
  t.equal(store.generation(), 0)

  // nothing new: fetched, not logged
  await refresh()
  t.equal(issuer.jwksRequests(), 2)
  t.equal(at('info').length, 1, 'an unchanged set is not logged')
  t.equal(store.generation(), 0)

  // a key added: logged, verdicts stand
  issuer.publishKeys([keyA, keyB])
  t.equal(modulus(await store.getKey(keyB.publicJwk.kid)), keyB.publicJwk.n)
  t.match(at('info')[1]?.fields, { keys: 2, added: 1, removed: 0, replaced: 0 })
  t.equal(store.generation(), 0, 'a new key takes nothing back')

  // a key withdrawn: one generation up
  issuer.publishKeys([keyB])
  await refresh()
  await t.rejects(async () => await store.getKey(keyA.publicJwk.kid), { code: 'token_key_unknown' })
  t.match(at('info')[2]?.fields, { keys: 1, added: 0, removed: 1, replaced: 0 })
  t.equal(store.generation(), 1)

  // a key replaced under the same kid: one generation up again
  issuer.publishKeys([{ privateKey: keyC.privateKey, publicJwk: { ...keyC.publicJwk, kid: keyB.publicJwk.kid } }])
  await refresh()
  t.equal(modulus(store.getKey(keyB.publicJwk.kid)), keyC.publicJwk.n)
  t.match(at('info')[3]?.fields, { keys: 1, added: 0, removed: 0, replaced: 1 })
  t.equal(store.generation(), 2)

  // one withdrawn and one replaced at once: still one step
  issuer.publishKeys([keyA, { privateKey: keyC.privateKey, publicJwk: { ...keyC.publicJwk, kid: keyB.publicJwk.kid } }])
  t.equal(modulus(await store.getKey(keyA.publicJwk.kid)), keyA.publicJwk.n)
  t.equal(store.generation(), 2)
  issuer.publishKeys([keyB])
  await refresh()
  t.match(at('info')[5]?.fields, { keys: 1, added: 0, removed: 1, replaced: 1 })
  t.equal(store.generation(), 3)
  t.equal(modulus(store.getKey(keyB.publicJwk.kid)), keyB.publicJwk.n)
})

t.test('failures: one warning naming the reason, then debug lines; the recovery is logged', async (t) => {
  const issuer = await startIssuer(t)
  issuer.jwksFault = 'error'
  const { log, next, at } = recordingLog()
  const warned = next((entry) => entry.level === 'warn')
  const retried = next((entry) => entry.level === 'debug')
  const store = openStore(t, issuer, { log })
  t.same((await warned), { level: 'warn', fields: { issuer: issuer.url, reason: 'HTTP 500', retryInMs: 2 }, msg: 'Cannot fetch the issuer signing keys; retrying in the background' })
  t.same((await retried), { level: 'debug', fields: { issuer: issuer.url, reason: 'HTTP 500', retryInMs: 4 }, msg: 'Issuer signing keys still unavailable' })
  t.equal(at('error').length, 0, 'no keys, nothing stale to report')
  const recovered = next(loaded)
  issuer.jwksFault = undefined
  t.match((await recovered).fields, { keys: 1, added: 1 })
  t.equal(at('warn').length, 1)
  t.equal(store.isFreshAt(Date.now()), true)
})

t.test('retries come no later than the next regular refresh would', async (t) => {
  const issuer = await startIssuer(t)
  issuer.jwksFault = 'error'
  const { log, next } = recordingLog()
  const warned = next((entry) => entry.level === 'warn')
  const retried = next((entry) => entry.level === 'debug')
  // the default backoff starts at 1 s and grows to 30 s: both above this refresh interval
  const store = createJwksKeyStore({ issuer: issuer.url, timeoutMs: 1000, refreshIntervalMs: 100, unknownKidCooldownMs: 0, maxStaleMs: 100, log })
  t.teardown(store.close)
  t.match((await warned).fields, { retryInMs: 100 })
  t.match((await retried).fields, { retryInMs: 100 })
})

t.test('a refresh that times out says so, and the last good set keeps serving', async (t) => {
  const issuer = await startIssuer(t)
  const { log, next } = recordingLog()
  const first = next(loaded)
  const store = openStore(t, issuer, { log, timeoutMs: 50, unknownKidCooldownMs: 0 })
  await first
  issuer.jwksFault = 'hang'
  const warned = next((entry) => entry.level === 'warn')
  await t.rejects(async () => await store.getKey('ins_unknown'), { code: 'token_key_unknown' })
  t.same(await warned, {
    level: 'warn',
    fields: { issuer: issuer.url, reason: 'no answer within 50 ms', retryInMs: 2 },
    msg: 'Cannot refresh the issuer signing keys; serving the last good set and retrying in the background'
  })
  t.equal(modulus(store.getKey(issuer.kid)), testKeys()[0].publicJwk.n)
})

t.test('a set that goes stale is reported once per outage, and again in the next outage', async (t) => {
  const issuer = await startIssuer(t)
  const clock = testClock()
  const { log, next, at } = recordingLog()
  const first = next(loaded)
  const store = openStore(t, issuer, { log, now: clock.now, maxStaleMs: 1000, unknownKidCooldownMs: 0 })
  await first

  const outage = async (): Promise<void> => {
    issuer.jwksFault = 'error'
    // still fresh: warned, not reported as stale
    await t.rejects(async () => await store.getKey('ins_unknown'), { code: 'token_key_unknown' })
    t.equal(at('error').length, errorsBefore, 'fresh keys are not reported as stale')
    clock.advance(1001)
    const stale = next((entry) => entry.level === 'error')
    const debugs = at('debug').length
    // the background retries find the set too old
    t.same(await stale, { level: 'error', fields: { issuer: issuer.url, maxStaleMs: 1000 }, msg: 'The last good key set is too old; refusing tokens until the issuer answers' })
    // and keep trying without saying it again
    while (at('debug').length < debugs + 3) await next((entry) => entry.level === 'debug')
    t.equal(at('error').length, errorsBefore + 1, 'once per outage')
    const back = next(loaded)
    issuer.jwksFault = undefined
    await back
  }
  let errorsBefore = 0
  await outage()
  errorsBefore = 1
  await outage()
  t.equal(at('error').length, 2)
  t.equal(store.isFreshAt(clock.now()), true)
})

t.test('an unknown kid during a fetch already running does not start the cooldown', async (t) => {
  const issuer = await startIssuer(t)
  issuer.jwksFault = 'held'
  const clock = testClock()
  const { log } = recordingLog()
  const store = openStore(t, issuer, { log, now: clock.now, unknownKidCooldownMs: 60_000 })
  await issuer.nextJwksRequest()
  // waits on the start-up fetch, which is not one an unknown kid triggered
  const during = store.getKey('ins_unknown_1')
  issuer.jwksFault = undefined
  issuer.releaseHeldJwks()
  await t.rejects(async () => await during, { code: 'token_key_unknown' })
  t.equal(issuer.jwksRequests(), 1)
  // so the first unknown kid after it still may fetch
  await t.rejects(async () => await store.getKey('ins_unknown_2'), { code: 'token_key_unknown' })
  t.equal(issuer.jwksRequests(), 2)
  // and the next one is cooling down
  await t.rejects(async () => await store.getKey('ins_unknown_3'), { code: 'token_key_unknown' })
  t.equal(issuer.jwksRequests(), 2)
})

t.test('closed: no fetch starts, not even for an unknown kid', async (t) => {
  const issuer = await startIssuer(t)
  const { log, next } = recordingLog()
  const first = next(loaded)
  const store = openStore(t, issuer, { log, unknownKidCooldownMs: 0 })
  await first
  store.close()
  await t.rejects(async () => await store.getKey('ins_unknown'), { code: 'token_key_unknown' })
  t.equal(issuer.jwksRequests(), 1)
  t.equal(modulus(store.getKey(issuer.kid)), testKeys()[0].publicJwk.n, 'known keys still answer')
})

t.test('key fetches that fail are retried with a doubling delay, up to a cap', async (t) => {
  const issuer = await startIssuer(t)
  issuer.jwksFault = 'error'
  const delays: number[] = []
  const warned: number[] = []
  let reached: () => void = () => {}
  const enough = new Promise<void>((resolve) => { reached = resolve })
  const ignore = (): void => {}
  const store = createJwksKeyStore({
    issuer: issuer.url,
    timeoutMs: 1000,
    refreshIntervalMs: 60_000,
    unknownKidCooldownMs: 0,
    maxStaleMs: 60_000,
    minRetryMs: 5,
    maxRetryMs: 40,
    log: {
      error: ignore,
      info: ignore,
      warn: (fields) => { warned.push((fields as { retryInMs: number }).retryInMs) },
      debug: (fields) => {
        delays.push((fields as { retryInMs: number }).retryInMs)
        if (delays.length === 5) reached()
      }
    }
  })
  t.teardown(store.close)
  await enough
  t.same(warned, [5], 'the first failure is a warning, retried after the shortest delay')
  t.same(delays, [10, 20, 40, 40, 40], 'each later failure is a debug line, waiting twice as long as the one before, then the cap')
  t.equal(issuer.jwksRequests(), 6)
})
