import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
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

const KEY_FILE = 'signing-key.pem'

export function signingKeyFrom (privateKey: KeyObject): SigningKey {
  const { n, e } = createPublicKey(privateKey).export({ format: 'jwk' })
  if (n === undefined || e === undefined) throw new Error('the development signing key is not an RSA key')
  // Clerk names keys ins_<id>; a thumbprint keeps the kid stable across restarts.
  const kid = `ins_dev_${rsaThumbprint({ n, e }).slice(0, 16)}`
  return { privateKey, publicJwk: { kty: 'RSA', kid, use: 'sig', alg: 'RS256', n, e } }
}

export function generateSigningKey (): SigningKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 })
  return signingKeyFrom(privateKey)
}

/** Loads the development key from dir, making (and keeping) a new RSA-2048 key on first use. */
export function loadOrCreateSigningKey (dir: string): SigningKey {
  const file = join(dir, KEY_FILE)
  try {
    return signingKeyFrom(createPrivateKey(readFileSync(file)))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const key = generateSigningKey()
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const pem = key.privateKey.export({ format: 'pem', type: 'pkcs8' })
  // 'wx' fails if another process wrote the file first; then use theirs.
  try {
    writeFileSync(file, pem, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    return signingKeyFrom(createPrivateKey(readFileSync(file)))
  }
  return key
}
