import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { answerBackendApi, devSecretKey, isVerifyPath, readDevOpaqueToken } from './backend-api.js'
import { m2mClaims, m2mHeader, oauthClaims, oauthHeader, type M2mClaimsInput, type OAuthClaimsInput } from './machine-claims.js'
import { sessionClaims, type SessionClaimsInput } from './session-claims.js'
import { signJwt } from './sign-jwt.js'
import type { SigningKey } from './signing-key.js'

export type MintInput = Omit<SessionClaimsInput, 'issuer'>

export interface DevIssuer {
  url: string
  kid: string
  mint: (input: MintInput) => string
  /** How many times the JWKS was fetched (the bench counts the fetches each verifier makes). */
  jwksRequests: () => number
  /** The development instance's secret key, for its Backend API (opaque machine tokens). */
  secretKey: string
  /** Calls to its Backend API verify endpoints. */
  backendApiRequests: () => number
  close: () => Promise<void>
}

export function devIssuerUrl (port: number): string {
  return `http://127.0.0.1:${port}`
}

export function mintDevToken (key: SigningKey, issuer: string, input: MintInput): string {
  return signJwt({ kid: key.publicJwk.kid }, sessionClaims({ ...input, issuer }), key.privateKey)
}

export function mintDevM2mToken (key: SigningKey, issuer: string, input: Omit<M2mClaimsInput, 'issuer'>): string {
  return signJwt({ kid: key.publicJwk.kid, ...m2mHeader }, m2mClaims({ ...input, issuer }), key.privateKey)
}

export function mintDevOAuthToken (key: SigningKey, issuer: string, input: Omit<OAuthClaimsInput, 'issuer'>): string {
  return signJwt({ kid: key.publicJwk.kid, ...oauthHeader }, oauthClaims({ ...input, issuer }), key.privateKey)
}

// Verify requests carry one short token: anything longer is not one.
const MAX_BODY_BYTES = 16 * 1024

async function readBody (req: IncomingMessage): Promise<string | undefined> {
  let size = 0
  const chunks: Buffer[] = []
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY_BYTES) return undefined
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * Serves the key's JWKS on loopback, exactly where a Clerk instance serves its own, and Clerk's Backend
 * API verify endpoints for the opaque machine tokens the CLI mints (npm run -s token -- --api-key).
 * Tokens are dated, and opaque ones judged, by now (the service's clock).
 */
export async function startDevIssuer (key: SigningKey, port: number, defaultAzp: string, now: () => number = Date.now): Promise<DevIssuer> {
  const body = JSON.stringify({ keys: [key.publicJwk] })
  const secretKey = devSecretKey(key.privateKey)
  let jwksRequests = 0
  let backendApiRequests = 0
  const server: Server = createServer((req, res) => {
    if (req.method === 'POST' && isVerifyPath(req.url ?? '')) {
      backendApiRequests++
      readBody(req).then((text) => {
        const answer = text === undefined
          ? { status: 413, body: { errors: [{ message: 'Request body too large', code: 'request_body_too_large' }] } }
          : answerBackendApi({ method: 'POST', path: req.url as string, authorization: req.headers.authorization, body: text }, { secretKey },
            (type, token) => readDevOpaqueToken(key.privateKey, type, token), now())
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body))
      }, () => res.destroy())
      return
    }
    if (req.method === 'GET' && req.url === '/.well-known/jwks.json') {
      jwksRequests++
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' })
      res.end(body)
      return
    }
    res.writeHead(404, { 'content-type': 'application/json' })
    res.end('{"error":"not found"}')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const url = devIssuerUrl((server.address() as AddressInfo).port)
  return {
    url,
    kid: key.publicJwk.kid,
    mint: (input) => mintDevToken(key, url, { azp: defaultAzp, nowSeconds: Math.floor(now() / 1000), ...input }),
    jwksRequests: () => jwksRequests,
    secretKey,
    backendApiRequests: () => backendApiRequests,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
