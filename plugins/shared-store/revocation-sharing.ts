// Revocations shared by every replica through Valkey or Redis: each one heard (from a webhook) is
// published on a channel and kept in a sorted set scored by its expiry, so that a replica that starts
// later or comes back from a partition loads those it missed. Requests never wait on the store: each
// replica checks its own copy (the verifier's), and while the store is unreachable revocations stay
// local and are published when it returns.
import type { Redis } from 'ioredis'
import { readRevocation, type Revocation, type Verifier } from '../clerk-auth/index.js'

// A message larger than any revocation is not read: the store is shared, not trusted to be sane.
const MAX_MESSAGE_CHARS = 4096

// ioredis retries by itself: its errors are seen through the connection's state, not thrown.
function ignore (): void {}

export interface SharingEvents {
  /** The store answers, the list is loaded and what was held back is published (first connection included). */
  up: () => void
  /** The store stopped answering (reason: why, without the URL): revocations stay local until it returns. */
  down: (reason: string) => void
}

export interface SharingStats {
  up: boolean
  /** Times the store went from up to unreachable. */
  outages: number
  /** Revocations this replica published, and those it learned from others. */
  published: number
  received: number
}

export interface SharingOptions {
  /** The sorted set of revocations and the channel they are published on. */
  listKey: string
  channel: string
  /** How often a store that is up is pinged (a hung store sends no event) and one that is down is retried, in ms. */
  heartbeatMs: number
  now: () => number
}

export class RevocationSharing {
  #up = false
  #closed = false
  // Set while a revocation from the store is applied: it is not published back.
  #applying = false
  #syncing: Promise<void> | undefined
  // Heard while the store was unreachable, by their message: published when it returns.
  readonly #held = new Set<string>()
  #outages = 0
  #published = 0
  #received = 0
  readonly #heartbeat: NodeJS.Timeout
  readonly #retentionMs: number
  readonly #maxEntries: number

  constructor (
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly verifier: Verifier,
    private readonly options: SharingOptions,
    private readonly events: SharingEvents
  ) {
    this.#retentionMs = verifier.options.revocationRetentionMs
    this.#maxEntries = verifier.options.maxRevocations
    verifier.onRevocation((revocation) => { if (!this.#applying) this.#share(revocation) })
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === options.channel) this.#apply(message)
    })
    for (const client of [publisher, subscriber]) {
      // every (re)connection: subscribe again and load what was missed meanwhile
      client.on('ready', () => { this.sync().catch(ignore) })
      client.on('close', () => { this.#down('connection closed') })
      // without a listener an error event would end the process
      client.on('error', ignore)
    }
    this.#heartbeat = setInterval(() => { this.#beat().catch(ignore) }, options.heartbeatMs).unref()
    // the connections may be ready already
    this.sync().catch(ignore)
  }

  get up (): boolean {
    return this.#up
  }

  stats (): SharingStats {
    return { up: this.#up, outages: this.#outages, published: this.#published, received: this.#received }
  }

  /**
   * Subscribes, publishes what was held back, then loads every revocation not yet expired (in that
   * order, so that none published meanwhile is missed). Resolves when done or failed (then down).
   */
  async sync (): Promise<void> {
    this.#syncing ??= this.#sync().finally(() => { this.#syncing = undefined })
    return await this.#syncing
  }

  close (): void {
    this.#closed = true
    clearInterval(this.#heartbeat)
    this.publisher.disconnect()
    this.subscriber.disconnect()
  }

  async #sync (): Promise<void> {
    if (this.publisher.status !== 'ready' || this.subscriber.status !== 'ready') return
    try {
      await this.subscriber.subscribe(this.options.channel)
      for (const message of this.#held) {
        await this.#publish(message)
        this.#held.delete(message)
        this.#published++
      }
      const current = await this.publisher.zrangebyscore(this.options.listKey, this.options.now(), '+inf')
      for (const message of current) this.#apply(message)
    } catch (err) {
      this.#down((err as Error).message)
      return
    }
    if (!this.#up && !this.#closed) {
      this.#up = true
      this.events.up()
    }
  }

  async #beat (): Promise<void> {
    if (!this.#up) {
      await this.sync()
      return
    }
    try {
      await this.publisher.ping()
    } catch (err) {
      this.#down((err as Error).message)
    }
  }

  #down (reason: string): void {
    if (!this.#up || this.#closed) return
    this.#up = false
    this.#outages++
    this.events.down(reason)
  }

  #share (revocation: Revocation): void {
    const message = JSON.stringify(revocation)
    if (!this.#up) {
      this.#hold(message)
      return
    }
    this.#publish(message).then(() => { this.#published++ }, (err: Error) => {
      this.#hold(message)
      this.#down(err.message)
    })
  }

  async #publish (message: string): Promise<void> {
    const now = this.options.now()
    const { listKey, channel } = this.options
    await this.publisher.multi()
      .zadd(listKey, now + this.#retentionMs, message)
      .zremrangebyscore(listKey, '-inf', now)
      // as many as a replica holds, the newest
      .zremrangebyrank(listKey, 0, -(this.#maxEntries + 1))
      .pexpire(listKey, this.#retentionMs)
      .publish(channel, message)
      .exec()
  }

  #hold (message: string): void {
    if (this.#held.size >= this.#maxEntries) this.#held.delete(this.#held.values().next().value as string)
    this.#held.add(message)
  }

  #apply (message: string): void {
    if (message.length > MAX_MESSAGE_CHARS) return
    let revocation: Revocation | undefined
    try {
      revocation = readRevocation(JSON.parse(message))
    } catch {
      return
    }
    if (revocation === undefined) return
    this.#applying = true
    try {
      if (this.verifier.revoke(revocation)) this.#received++
    } finally {
      this.#applying = false
    }
  }
}
