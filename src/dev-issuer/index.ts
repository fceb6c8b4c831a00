import { resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { ConfigError, configuredIssuer, developmentAzp } from '../settings.js'
import { createTestIssuer, type TestIssuer } from '../../plugins/clerk-auth/testing/index.js'
import { loadOrCreateSigningKey } from './signing-key.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The built-in development issuer, or null when CLERK_ISSUER_URL names a real one. */
    devIssuer: TestIssuer | null
  }
}

/**
 * Without CLERK_ISSUER_URL runs a local issuer whose tokens go
 * through the very same JWKS verification as Clerk's: nothing is bypassed.
 */
export interface DevIssuerOptions {
  /** The clock its tokens are dated by: the service's (tests pass their own). */
  now?: () => number
}

async function devIssuerPlugin (fastify: FastifyInstance, options: DevIssuerOptions): Promise<void> {
  const { DEV_ISSUER_PORT, DEV_ISSUER_DIR } = fastify.config
  if (configuredIssuer(fastify.config) !== undefined) {
    fastify.decorate('devIssuer', null)
    return
  }
  let issuer: TestIssuer
  try {
    issuer = await createTestIssuer({ key: loadOrCreateSigningKey(resolve(DEV_ISSUER_DIR)), port: DEV_ISSUER_PORT, authorizedParty: developmentAzp(fastify.config), now: options.now })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new ConfigError('DEV_ISSUER_PORT', `${DEV_ISSUER_PORT} is already in use: choose another port or set CLERK_ISSUER_URL`)
    }
    throw err
  }
  fastify.decorate('devIssuer', issuer)
  fastify.addHook('onClose', issuer.close)
  fastify.log.warn(
    { issuer: issuer.url },
    'Development issuer running (no CLERK_ISSUER_URL set). Mint a session token with: npm run -s token -- --sub user_123'
  )
}

export default fp(devIssuerPlugin, { name: 'dev-issuer', fastify: '5.x', dependencies: ['@fastify/env'] })
