import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'

/** An RS256 verification key from a JWKS, built once. */
export interface VerificationKey {
  kid: string
  /** Parsed once: parsing a key costs several times an RSA verification. */
  key: KeyObject
  /** n and e, to tell a republished key from a new one under the same kid. */
  fingerprint: string
}

export interface ParsedJwks {
  keys: Map<string, VerificationKey>
  /** Entries that are not RSA signing keys with a kid, or that repeat a kid. */
  skipped: number
}

// Clerk signs with RSA-2048; anything weaker is not a key we should trust, and a modulus far larger
// would make each verification cost many times more (Node builds a key from a 600,000-bit n).
const MIN_MODULUS_BITS = 2048
const MAX_MODULUS_BITS = 8192

/** The RSA signing entries with a kid; everything else in a JWKS is skipped. */
function isSigningEntry (entry: Record<string, unknown>): entry is { kty: 'RSA', kid: string, n: string, e: string } {
  const { kty, kid, use, alg, n, e } = entry
  return kty === 'RSA' && typeof kid === 'string' && kid !== '' && typeof n === 'string' && typeof e === 'string' &&
    (use === undefined || use === 'sig') && (alg === undefined || alg === 'RS256')
}

/** Plain RSA (not RSA-PSS), from MIN_MODULUS_BITS to MAX_MODULUS_BITS. */
function isUsableRsa (key: KeyObject): boolean {
  if (key.asymmetricKeyType !== 'rsa') return false
  const { modulusLength } = key.asymmetricKeyDetails as { modulusLength: number }
  return modulusLength >= MIN_MODULUS_BITS && modulusLength <= MAX_MODULUS_BITS
}

// Node builds a key from any base64url strings n and e (odd ones give a tiny modulus), so this does not throw.
function toKey (entry: { kid: string, n: string, e: string }): VerificationKey | undefined {
  const { kid, n, e } = entry
  const key = createPublicKey({ key: { kty: 'RSA', n, e } as JsonWebKey, format: 'jwk' })
  return isUsableRsa(key) ? { kid, key, fingerprint: `${n}.${e}` } : undefined
}

/**
 * Takes the RS256 signing keys out of a JWKS document. Keys already built (same kid, n and e)
 * are reused, so a refresh builds nothing new unless the issuer published something new; every
 * entry passes the same filters first, on every refresh.
 */
export function parseJwks (body: unknown, previous?: ReadonlyMap<string, VerificationKey>): ParsedJwks {
  if (body === null || typeof body !== 'object' || !Array.isArray((body as { keys?: unknown }).keys)) {
    throw new Error('the JWKS has no "keys" array')
  }
  const keys = new Map<string, VerificationKey>()
  let skipped = 0
  for (const entry of (body as { keys: unknown[] }).keys) {
    const signing = entry as Record<string, unknown>
    if (signing === null || typeof signing !== 'object' || !isSigningEntry(signing)) {
      skipped++
      continue
    }
    const known = previous?.get(signing.kid)
    const key = known !== undefined && known.fingerprint === `${signing.n}.${signing.e}` ? known : toKey(signing)
    if (key === undefined || keys.has(key.kid)) {
      skipped++
      continue
    }
    keys.set(key.kid, key)
  }
  if (keys.size === 0) throw new Error('the JWKS has no usable RS256 signing key')
  return { keys, skipped }
}

/** Reads a PEM public key as Clerk's dashboard shows it (real newlines or \n escapes); undefined if it is not an RSA public key. */
export function parsePemPublicKey (text: string): KeyObject | undefined {
  const pem = text.replace(/\\n/g, '\n').trim()
  if (!/^-----BEGIN (RSA )?PUBLIC KEY-----/.test(pem)) return undefined
  let key: KeyObject
  try {
    key = createPublicKey(pem)
  } catch {
    return undefined
  }
  return isUsableRsa(key) ? key : undefined
}

/**
 * Runs work with a signal that aborts after ms with a TimeoutError, as AbortSignal.timeout() would,
 * and rejects with that error then even if the work has not given up: a body read that misses the
 * abort cannot hold a caller past ms. Not AbortSignal.timeout() itself: Node's timer holds that
 * signal weakly, and a signal collected while a body is still being read never fires.
 */
export async function withTimeout<T> (ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const reason = new DOMException(`no answer within ${ms} ms`, 'TimeoutError')
      controller.abort(reason)
      reject(reason)
    }, ms)
    timer.unref()
  })
  try {
    return await Promise.race([work(controller.signal), expired])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * GETs a JSON document with a timeout that really aborts (connection, headers and body alike)
 * and a cap on the body size; seen gets the answer's status.
 */
export async function fetchJson (url: string, options: { timeoutMs: number, maxBytes: number }, seen?: { status?: number }): Promise<unknown> {
  return await withTimeout(options.timeoutMs, async (signal) => {
    const response = await fetch(url, { signal, redirect: 'error', headers: { accept: 'application/json' } })
    if (seen !== undefined) seen.status = response.status
    if (!response.ok) {
      await response.body?.cancel()
      throw new Error(`HTTP ${response.status}`)
    }
    return await readJsonBody(response, options.maxBytes)
  })
}

/** Thrown when an answer's body is over the cap, declared or streamed. */
export class BodyTooLargeError extends Error {}

/**
 * A response's body as JSON, read within the request's own signal (its timeout covers the body) and
 * refused, unread or as soon as it grows past it, when larger than maxBytes.
 */
export async function readJsonBody (response: Response, maxBytes: number): Promise<unknown> {
  const tooLarge = `the response is larger than ${maxBytes} bytes`
  if (Number(response.headers.get('content-length')) > maxBytes) {
    await response.body?.cancel()
    throw new BodyTooLargeError(tooLarge)
  }
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of response.body ?? []) {
    size += chunk.byteLength
    if (size > maxBytes) throw new BodyTooLargeError(tooLarge)
    chunks.push(chunk)
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}
