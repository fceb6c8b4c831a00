import { createPrivateKey } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateSigningKey, signingKeyFrom, type SigningKey } from '../../plugins/clerk-auth/testing/index.js'

const KEY_FILE = 'signing-key.pem'

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
