// The package's test issuer, closed when the test ends.
import type { Test } from 'tap'
import { createTestIssuer, generateSigningKey, type SigningKey, type TestIssuer } from '../../testing/index.js'

export type { TestIssuer }

// Keys are slow to make: share a few across the tests of a process.
let sharedKeys: [SigningKey, SigningKey] | undefined
export function testKeys (): [SigningKey, SigningKey] {
  sharedKeys ??= [generateSigningKey(), generateSigningKey()]
  return sharedKeys
}

export interface StartIssuerOptions {
  /** The keys it publishes, the first signing (default: one shared test key). */
  keys?: SigningKey[]
  /** The clock its tokens are dated by and its Backend API judges expiry by. */
  now?: () => number
}

/** createTestIssuer() on a free 127.0.0.1 port, closed when the test ends. */
export async function startIssuer (t: Test, options: StartIssuerOptions = {}): Promise<TestIssuer> {
  const keys = options.keys ?? [testKeys()[0]]
  const issuer = await createTestIssuer({ key: keys[0] as SigningKey, ...(options.now === undefined ? {} : { now: options.now }) })
  issuer.publishKeys(keys)
  t.teardown(issuer.close)
  return issuer
}
