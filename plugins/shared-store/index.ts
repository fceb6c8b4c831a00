// Replicas that share what they know through Valkey or Redis: the revocations Clerk's webhooks bring,
// so that a sign-out heard by one replica is enforced by all, and Clerk's answers on opaque machine
// tokens with the count of calls to Clerk, so that the fleet asks once per token and keeps one bound.
// Without a URL nothing is shared and fastify.sharedStore is null: everything stays in the process.
// Registered before clerk-auth, which takes `verdicts`; the app then calls shareRevocations().
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Redis, type RedisOptions } from 'ioredis'
import type { SharedVerdicts, Verifier } from '../clerk-auth/index.js'
import { RevocationSharing, type SharingStats } from './revocation-sharing.js'
import { redisVerdicts } from './shared-verdicts.js'

export type { SharingStats } from './revocation-sharing.js'

export interface SharedStoreOptions {
  /** redis:// or rediss:// (Valkey or Redis 7); undefined turns sharing off. */
  url?: string | undefined
  /** Starts every key and channel name, so that several deployments can share one server. */
  keyPrefix?: string
  /**
   * How long start-up waits for the store, a connection attempt and a command may take, in ms. Past
   * it the service carries on without the store (and keeps trying in the background).
   */
  timeoutMs?: number
  /** How often the store is pinged while up and retried while down, in ms. */
  heartbeatMs?: number
  /** The clock revocations expire by (clerk-auth's). */
  now?: () => number
}

declare module 'fastify' {
  interface FastifyInstance {
    /** null when no store is configured. */
    sharedStore: {
      /** For clerk-auth's sharedVerdicts option. */
      verdicts: SharedVerdicts
      /** The client for other plugins' shared state (rate limits); commands fail at once while it is down. */
      redis: Redis
      /**
       * Shares the verifier's revocations with the other replicas. Resolves once those they hold are
       * loaded, or after the timeout if the store does not answer (then they are loaded when it does).
       */
      shareRevocations: (verifier: Verifier) => Promise<void>
      /** Whether the store answers and this replica has loaded what the others shared. */
      isUp: () => boolean
      stats: () => SharingStats
      /** Resolves once the store has been reached and read (again, after an outage). */
      whenUp: () => Promise<void>
    } | null
  }
}

const DEFAULTS = { keyPrefix: 'clerk-auth:', timeoutMs: 1000, heartbeatMs: 2000 }
const KEY_PREFIX = /^[\w:.-]{0,64}$/

/** Why the options are unusable, or undefined. */
export function sharedStoreProblem (options: SharedStoreOptions): string | undefined {
  if (options.url !== undefined && !/^rediss?:\/\/./.test(options.url)) return 'url must start with redis:// or rediss://'
  if (options.keyPrefix !== undefined && !KEY_PREFIX.test(options.keyPrefix)) return 'keyPrefix must be at most 64 letters, digits, _ : . or -'
  for (const name of ['timeoutMs', 'heartbeatMs'] as const) {
    const value = options[name]
    if (value !== undefined && !(Number.isInteger(value) && value >= 10 && value <= 60_000)) return `${name} must be an integer from 10 to 60000`
  }
  return undefined
}

async function sharedStore (fastify: FastifyInstance, options: SharedStoreOptions): Promise<void> {
  const problem = sharedStoreProblem(options)
  if (problem !== undefined) throw new Error(`shared-store: ${problem}`)
  if (options.url === undefined) {
    fastify.decorate('sharedStore', null)
    return
  }
  const { keyPrefix, timeoutMs, heartbeatMs } = { ...DEFAULTS, ...options }
  const clientOptions: RedisOptions = {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    // While the store is unreachable a command fails at once instead of waiting in a queue.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Subscribing again is done by the sharing, before it loads what was missed.
    autoResubscribe: false,
    // Reconnect for ever, backing off to once every 2 s.
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000)
  }
  const publisher = new Redis(options.url, clientOptions)
  const subscriber = new Redis(options.url, clientOptions)
  publisher.connect().catch(() => {})
  subscriber.connect().catch(() => {})
  let sharing: RevocationSharing | undefined
  let waiting: Array<() => void> = []
  const whenUp = async (): Promise<void> => {
    if (sharing?.up !== true) await new Promise<void>((resolve) => { waiting.push(resolve) })
  }
  const events = {
    up () {
      fastify.log.info('Shared store reachable: revocations and machine-token verdicts are shared with the other replicas')
      for (const resolve of waiting) resolve()
      waiting = []
    },
    // once per outage; the URL may hold a password and is never logged
    down (reason: string) {
      fastify.log.warn({ reason }, 'Shared store unreachable: revocations stay local to this replica until it returns, and it asks Clerk alone')
    }
  }

  // A replica that starts loads the revocations the others hold before it serves, unless the store
  // does not answer in time: then it starts without them and loads them when the store returns.
  async function shareRevocations (verifier: Verifier): Promise<void> {
    sharing = new RevocationSharing(publisher, subscriber, verifier, {
      listKey: `${keyPrefix}revocations`,
      channel: `${keyPrefix}revocations`,
      heartbeatMs,
      now: options.now ?? Date.now
    }, events)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([whenUp(), new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs) })])
    clearTimeout(timer)
    if (!sharing.up) fastify.log.warn({ timeoutMs }, 'Shared store unreachable at start: revocations stay local to this replica until it answers')
  }

  fastify.decorate('sharedStore', {
    verdicts: redisVerdicts(publisher, keyPrefix),
    redis: publisher,
    shareRevocations,
    isUp: () => sharing?.up === true,
    stats: () => sharing?.stats() ?? { up: false, outages: 0, published: 0, received: 0 },
    whenUp
  })
  fastify.addHook('onClose', async () => {
    if (sharing === undefined) {
      publisher.disconnect()
      subscriber.disconnect()
    } else {
      sharing.close()
    }
    for (const resolve of waiting) resolve()
  })
}

export default fp(sharedStore, { name: 'shared-store', fastify: '5.x' })
