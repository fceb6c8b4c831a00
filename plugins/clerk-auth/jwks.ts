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

// Clerk signs with RSA-2048; anything weaker is not a key we should trust.
const MIN_MODULUS_BITS = 2048

function toKey (entry: Record<string, unknown>): VerificationKey | undefined {
  const { kty, kid, use, alg, n, e } = entry
  if (kty !== 'RSA' || typeof kid !== 'string' || kid === '' || typeof n !== 'string' || typeof e !== 'string') return undefined
  if ((use !== undefined && use !== 'sig') || (alg !== undefined && alg !== 'RS256')) return undefined
  try {
    const key = createPublicKey({ key: { kty, n, e } as JsonWebKey, format: 'jwk' })
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_MODULUS_BITS) return undefined
    return { kid, key, fingerprint: `${n}.${e}` }
  } catch {
    return undefined
  }
}

/**
 * Takes the RS256 signing keys out of a JWKS document. Keys already built (same kid, n and e)
 * are reused, so a refresh builds nothing new unless the issuer published something new.
 */
export function parseJwks (body: unknown, previous?: ReadonlyMap<string, VerificationKey>): ParsedJwks {
  if (body === null || typeof body !== 'object' || !Array.isArray((body as { keys?: unknown }).keys)) {
    throw new Error('the JWKS has no "keys" array')
  }
  const keys = new Map<string, VerificationKey>()
  let skipped = 0
  for (const entry of (body as { keys: unknown[] }).keys) {
    if (entry === null || typeof entry !== 'object') {
      skipped++
      continue
    }
    const { kid, n, e } = entry as Record<string, unknown>
    const known = typeof kid === 'string' ? previous?.get(kid) : undefined
    const key = known !== undefined && known.fingerprint === `${String(n)}.${String(e)}` ? known : toKey(entry as Record<string, unknown>)
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
  try {
    const key = createPublicKey(pem)
    if (key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_MODULUS_BITS) return undefined
    return key
  } catch {
    return undefined
  }
}

/**
 * GETs a JSON document with a timeout that really aborts (connection, headers and body alike)
 * and a cap on the body size.
 */
export async function fetchJson (url: string, options: { timeoutMs: number, maxBytes: number }): Promise<unknown> {
  const response = await fetch(url, {
    signal: AbortSignal.timeout(options.timeoutMs),
    redirect: 'error',
    headers: { accept: 'application/json' }
  })
  if (!response.ok) {
    await response.body?.cancel()
    throw new Error(`HTTP ${response.status}`)
  }
  const declared = Number(response.headers.get('content-length'))
  if (declared > options.maxBytes) {
    await response.body?.cancel()
    throw new Error(`the response is larger than ${options.maxBytes} bytes`)
  }
  const chunks: Uint8Array[] = []
  let size = 0
  if (response.body !== null) {
    for await (const chunk of response.body) {
      size += chunk.byteLength
      if (size > options.maxBytes) throw new Error(`the response is larger than ${options.maxBytes} bytes`)
      chunks.push(chunk)
    }
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}
