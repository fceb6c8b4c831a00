import { createPublicKey } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { answerBackendApi, devSecretKey, mintDevOpaqueToken, readDevOpaqueToken } from './backend-api.js'
import { m2mClaims, m2mHeader, oauthClaims, oauthHeader, type M2mClaimsInput, type OAuthClaimsInput } from './machine-claims.js'
import { sessionClaims, type SessionClaimsInput } from './session-claims.js'
import { signJwt } from './sign-jwt.js'
import { generateSigningKey, type SigningKey } from './signing-key.js'

export type SessionTokenInput = Omit<SessionClaimsInput, 'issuer' | 'sub'> & {
  /** The user (default user_test). */
  sub?: string
}
export type M2mTokenInput = Omit<M2mClaimsInput, 'issuer' | 'machineId'> & {
  /** The calling machine (default mch_test). */
  machineId?: string
}
export type OAuthTokenInput = Omit<OAuthClaimsInput, 'issuer' | 'userId' | 'clientId'> & {
  /** The user who authorized the client (default user_test). */
  userId?: string
  clientId?: string
}
export interface OpaqueTokenInput {
  /** user_…, org_… (API keys), mch_… (M2M) */
  subject?: string
  scopes?: string[]
  claims?: Record<string, unknown> | null
  /** An API key's name. */
  name?: string
  /** An OAuth token's client. */
  clientId?: string
  /** When it expires, in ms since the epoch; null: never (API keys by default). */
  expiration?: number | null
  revoked?: boolean
}

export interface TestIssuerOptions {
  /** The signing key (default: a new RSA-2048 key). */
  key?: SigningKey
  /** The loopback port (default 0: a free one). */
  port?: number
  /** The clock tokens are dated by and opaque tokens judged by (default Date.now). */
  now?: () => number
  /** The azp of session tokens unless a token says otherwise (default http://localhost:3000). */
  authorizedParty?: string
}

export interface TestIssuer {
  /** The issuer URL: clerk-auth's `issuer` (and `apiUrl`, for opaque tokens). */
  url: string
  /** The key id its tokens name. */
  kid: string
  /** Its secret key: clerk-auth's `secretKey`, for API keys and opaque tokens. */
  secretKey: string
  /** Its public key as PEM: clerk-auth's `jwtKey`, for networkless mode. */
  publicKeyPem: string
  /** A session token (v2 claims; organization, features, plans and any claim through the input). */
  sessionToken: (input?: SessionTokenInput) => string
  /** An M2M token JWT. */
  m2mToken: (input?: M2mTokenInput) => string
  /** An OAuth access token JWT. */
  oauthToken: (input?: OAuthTokenInput) => string
  /** An API key (ak_…), verified by the issuer's Backend API. */
  apiKey: (input?: OpaqueTokenInput) => string
  /** An opaque M2M token (mt_…), verified by the issuer's Backend API. */
  opaqueM2mToken: (input?: OpaqueTokenInput) => string
  /** An opaque OAuth access token (oat_…), verified by the issuer's Backend API. */
  opaqueOAuthToken: (input?: OpaqueTokenInput) => string
  /** Tokens that must be refused, to test error paths: the refusal code each gets. */
  brokenTokens: () => {
    expired: string
    notYetValid: string
    wrongIssuer: string
    wrongKey: string
    wrongAuthorizedParty: string
    badSignature: string
  }
  /** How many times its JWKS was fetched. */
  jwksRequests: () => number
  /** Calls to its Backend API verify endpoints. */
  backendApiRequests: () => number
  close: () => Promise<void>
}

/** A session token of issuer, signed with key (no server needed). */
export function mintSessionToken (key: SigningKey, issuer: string, input: Omit<SessionClaimsInput, 'issuer'>): string {
  return signJwt({ kid: key.publicJwk.kid }, sessionClaims({ ...input, issuer }), key.privateKey)
}

/** An M2M token JWT of issuer, signed with key. */
export function mintM2mToken (key: SigningKey, issuer: string, input: Omit<M2mClaimsInput, 'issuer'>): string {
  return signJwt({ kid: key.publicJwk.kid, ...m2mHeader }, m2mClaims({ ...input, issuer }), key.privateKey)
}

/** An OAuth access token JWT of issuer, signed with key. */
export function mintOAuthToken (key: SigningKey, issuer: string, input: Omit<OAuthClaimsInput, 'issuer'>): string {
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
 * A stand-in for a Clerk instance on 127.0.0.1: its JWKS where Clerk serves it, Clerk's Backend API
 * verify endpoints for opaque tokens, and the tokens themselves, signed with a real RSA key. Point
 * clerk-auth at `url` (with `secretKey` for opaque tokens): nothing in the verification is bypassed.
 */
export async function createTestIssuer (options: TestIssuerOptions = {}): Promise<TestIssuer> {
  const key = options.key ?? generateSigningKey()
  const now = options.now ?? Date.now
  const authorizedParty = options.authorizedParty ?? 'http://localhost:3000'
  const jwks = JSON.stringify({ keys: [key.publicJwk] })
  const secretKey = devSecretKey(key.privateKey)
  let jwksRequests = 0
  let backendApiRequests = 0
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/.well-known/jwks.json') {
      jwksRequests++
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' }).end(jwks)
      return
    }
    if (req.method === 'POST') {
      backendApiRequests++
      readBody(req).then((text) => {
        const answer = text === undefined
          ? { status: 413, body: { errors: [{ message: 'Request body too large', code: 'request_body_too_large' }] } }
          : answerBackendApi({ method: 'POST', path: req.url ?? '', authorization: req.headers.authorization, body: text }, { secretKey },
            (type, token) => readDevOpaqueToken(key.privateKey, type, token), now())
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body))
      }, () => res.destroy())
      return
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => { resolve() })
  })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const nowSeconds = (): number => Math.floor(now() / 1000)
  const header = { kid: key.publicJwk.kid }

  const sessionToken = (input: SessionTokenInput = {}): string =>
    mintSessionToken(key, url, { azp: authorizedParty, nowSeconds: nowSeconds(), ...input, sub: input.sub ?? 'user_test' })
  const opaque = (type: 'api_key' | 'm2m_token' | 'oauth_token', fallbackSubject: string, input: OpaqueTokenInput): string =>
    mintDevOpaqueToken(key.privateKey, {
      type,
      subject: input.subject ?? fallbackSubject,
      scopes: input.scopes ?? [],
      claims: input.claims ?? null,
      ...(type === 'api_key' ? { name: input.name ?? 'test-key' } : {}),
      ...(type === 'oauth_token' ? { clientId: input.clientId ?? 'client_test' } : {}),
      expiration: input.expiration !== undefined ? input.expiration : type === 'api_key' ? null : now() + 3_600_000,
      revoked: input.revoked ?? false
    }, now())

  return {
    url,
    kid: key.publicJwk.kid,
    secretKey,
    publicKeyPem: createPublicKey(key.privateKey).export({ type: 'spki', format: 'pem' }) as string,
    sessionToken,
    m2mToken: (input = {}) => mintM2mToken(key, url, { nowSeconds: nowSeconds(), ...input, machineId: input.machineId ?? 'mch_test' }),
    oauthToken: (input = {}) => mintOAuthToken(key, url, { nowSeconds: nowSeconds(), ...input, userId: input.userId ?? 'user_test', clientId: input.clientId ?? 'client_test' }),
    apiKey: (input = {}) => opaque('api_key', 'user_test', input),
    opaqueM2mToken: (input = {}) => opaque('m2m_token', 'mch_test', input),
    opaqueOAuthToken: (input = {}) => opaque('oauth_token', 'user_test', input),
    brokenTokens: () => {
      const valid = sessionToken()
      // a character inside the signature, not its last one (whose low bits are padding)
      const at = valid.length - 10
      const other = valid[at] === 'A' ? 'B' : 'A'
      return {
        expired: sessionToken({ nowSeconds: nowSeconds() - 3600 }),
        notYetValid: sessionToken({ extra: { nbf: nowSeconds() + 3600 } }),
        wrongIssuer: mintSessionToken(key, 'https://clerk.another-app.example', { azp: authorizedParty, nowSeconds: nowSeconds(), sub: 'user_test' }),
        wrongKey: signJwt(header, sessionClaims({ azp: authorizedParty, nowSeconds: nowSeconds(), sub: 'user_test', issuer: url }), generateSigningKey().privateKey),
        wrongAuthorizedParty: sessionToken({ azp: 'https://evil.example' }),
        badSignature: `${valid.slice(0, at)}${other}${valid.slice(at + 1)}`
      }
    },
    jwksRequests: () => jwksRequests,
    backendApiRequests: () => backendApiRequests,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    }
  }
}
