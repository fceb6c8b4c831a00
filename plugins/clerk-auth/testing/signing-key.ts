import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { rsaThumbprint } from './sign-jwt.js'

export interface PublicJwk {
  kty: 'RSA'
  kid: string
  use: 'sig'
  alg: 'RS256'
  n: string
  e: string
}

export interface SigningKey {
  privateKey: KeyObject
  publicJwk: PublicJwk
}

export function signingKeyFrom (privateKey: KeyObject): SigningKey {
  const { n, e } = createPublicKey(privateKey).export({ format: 'jwk' })
  if (n === undefined || e === undefined) throw new Error('the signing key is not an RSA key')
  // Clerk names keys ins_<id>; a thumbprint keeps the kid the same for the same key.
  const kid = `ins_test_${rsaThumbprint({ n, e }).slice(0, 16)}`
  return { privateKey, publicJwk: { kty: 'RSA', kid, use: 'sig', alg: 'RS256', n, e } }
}

export function generateSigningKey (): SigningKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 })
  return signingKeyFrom(privateKey)
}
