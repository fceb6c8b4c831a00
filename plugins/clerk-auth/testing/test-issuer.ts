import { createPublicKey } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { answerBackendApi, devMachineSecretKey, devSecretKey, mintDevOpaqueToken, readDevOpaqueToken } from './backend-api.js'
import { m2mClaims, m2mHeader, oauthClaims, oauthHeader, type M2mClaimsInput, type OAuthClaimsInput } from './machine-claims.js'
import { sessionClaims, type SessionClaimsInput } from './session-claims.js'
import { devWebhookSigningSecret, signWebhook, webhookEvent, type SignWebhookOptions, type WebhookDelivery, type WebhookEventInput } from './webhooks.js'
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

/**
 * How the JWKS endpoint misbehaves: error (HTTP 500), garbage (200, broken JSON), not-array (`keys` is
 * an object), oversized (2 MiB with a Content-Length), oversized-chunked (2 MiB, chunked), hang (never
 * answers), reset (drops the connection, as a host that is down), held (answers when releaseHeldJwks()
 * is called, with the keys published then).
 */
export type JwksFault = 'error' | 'garbage' | 'not-array' | 'oversized' | 'oversized-chunked' | 'hang' | 'reset' | 'held'

/**
 * How the Backend API verify endpoints misbehave: error (HTTP 500), garbage (200, broken JSON), hang,
 * reset, huge (200 and a 1 GiB body, written as fast as the client reads), drip (200, then a byte every
 * 50 ms, never ending), held (the usual answer, when releaseHeldBackendApi() is called), or any answer
 * of your own: `{ status, body }` (sent as JSON) or `{ status, raw }` (sent as it is).
 */
export type BackendApiFault = 'error' | 'garbage' | 'hang' | 'reset' | 'huge' | 'drip' | 'held' | { status: number, body: unknown } | { status: number, raw: string }

/** One request to the Backend API verify endpoints, as received. */
export interface BackendApiCall {
  path: string
  authorization: string | undefined
  /** The Clerk-API-Version header. */
  clerkApiVersion: string | undefined
  contentType: string | undefined
  /** The parsed JSON body (undefined when it was not JSON). */
  body: unknown
}

export interface TestIssuer {
  /** The issuer URL: clerk-auth's `issuer` (and `apiUrl`, for opaque tokens). */
  url: string
  /** The key id its tokens name (the first published key's). */
  readonly kid: string
  /** Its secret key: clerk-auth's `secretKey`, for API keys and opaque tokens. */
  secretKey: string
  /** A machine secret key: clerk-auth's `machineSecretKey`, for opaque M2M tokens verified as a machine. */
  machineSecretKey: string
  /** Its webhook endpoint's signing secret (whsec_…): clerkWebhooks' `signingSecret`. */
  webhookSigningSecret: string
  /**
   * A webhook delivery of an event of this type (session.revoked, user.deleted, …) as Clerk sends
   * it, signed with webhookSigningSecret and dated by the issuer's clock: POST its body and headers.
   */
  webhook: (type: string, input?: WebhookEventInput, options?: SignWebhookOptions) => WebhookDelivery
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
  /**
   * The claims sessionToken() signs (user_test, session sess_test, dated now), with overrides; an
   * override of undefined removes the claim. With sign(), for tokens no input of sessionToken() makes.
   */
  sessionClaims: (overrides?: Record<string, unknown>) => Record<string, unknown>
  /** Signs any payload (default: sessionClaims()) with the first published key, or another; the header gets that key's kid unless it says otherwise. */
  sign: (payload?: Record<string, unknown>, options?: { key?: SigningKey, header?: Record<string, unknown> }) => string
  /** Publishes these keys from now on, the first signing new tokens: key rotation, or a key withdrawn. */
  publishKeys: (keys: SigningKey[]) => void
  /** Makes the JWKS endpoint misbehave until set back to undefined. */
  jwksFault: JwksFault | undefined
  /** Answers the JWKS requests held so far (the held fault). */
  releaseHeldJwks: () => void
  /** Resolves when the next JWKS request arrives. */
  nextJwksRequest: () => Promise<void>
  /** How many times its JWKS was fetched. */
  jwksRequests: () => number
  /** JWKS requests the client gave up on before an answer (the hang fault). */
  abandonedJwksRequests: () => number
  /** Makes the Backend API verify endpoints misbehave until set back to undefined. */
  backendApiFault: BackendApiFault | undefined
  /** Answers the Backend API calls held so far (the held fault). */
  releaseHeldBackendApi: () => void
  /** Calls to its Backend API verify endpoints, in order. */
  backendApiCalls: () => readonly BackendApiCall[]
  /** Bytes of body the huge fault has written so far. */
  hugeAnswerBytesSent: () => number
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

function parsedOrUndefined (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

// What the oversized faults add to the key set: 2 MiB, over clerk-auth's 1 MiB cap.
const PADDING = 'x'.repeat(2 * 1024 * 1024)

function answerJwksFault (fault: Exclude<JwksFault, 'hang' | 'held' | 'reset'>, res: ServerResponse, jwks: string): void {
  const json = { 'content-type': 'application/json' }
  switch (fault) {
    case 'error': res.writeHead(500, json).end('{"error":"boom"}'); return
    case 'garbage': res.writeHead(200, json).end('{"keys": ['); return
    case 'not-array': res.writeHead(200, json).end('{"keys": {"0": {}}}'); return
    case 'oversized': res.writeHead(200, json).end(`${jwks.slice(0, -1)},"padding":"${PADDING}"}`); return
    default:
      res.writeHead(200, json).write(`${jwks.slice(0, -1)},"padding":"`)
      for (let i = 0; i < 32; i++) res.write(PADDING.slice(0, 64 * 1024))
      res.end('"}')
  }
}

const HUGE_ANSWER_BYTES = 1024 ** 3
const HUGE_CHUNK = Buffer.alloc(64 * 1024, 'a')

/** A 1 GiB JSON answer, written as fast as the client reads and stopped when it goes away. */
function streamHugeAnswer (res: ServerResponse, wrote: (bytes: number) => void): void {
  res.writeHead(200, { 'content-type': 'application/json' }).write('{"object":"api_key","claims":"')
  let sent = 0
  const more = (): void => {
    while (sent < HUGE_ANSWER_BYTES && !res.destroyed) {
      sent += HUGE_CHUNK.length
      wrote(HUGE_CHUNK.length)
      if (!res.write(HUGE_CHUNK)) {
        res.once('drain', more)
        return
      }
    }
    if (!res.destroyed) res.end('"}')
  }
  more()
}

/**
 * A stand-in for a Clerk instance on 127.0.0.1: its JWKS where Clerk serves it, Clerk's Backend API
 * verify endpoints for opaque tokens, and the tokens themselves, signed with a real RSA key. Point
 * clerk-auth at `url` (with `secretKey` for opaque tokens): nothing in the verification is bypassed.
 * Faults make either endpoint misbehave, to test what your app does when Clerk does.
 */
export async function createTestIssuer (options: TestIssuerOptions = {}): Promise<TestIssuer> {
  // The instance key: the secret keys and opaque tokens derive from it, whatever keys are published later.
  const instanceKey = options.key ?? generateSigningKey()
  const now = options.now ?? Date.now
  const authorizedParty = options.authorizedParty ?? 'http://localhost:3000'
  const secretKey = devSecretKey(instanceKey.privateKey)
  const machineSecretKey = devMachineSecretKey(instanceKey.privateKey)
  const webhookSigningSecret = devWebhookSigningSecret(instanceKey.privateKey)
  let published: SigningKey[] = [instanceKey]
  let jwksRequests = 0
  let abandonedJwksRequests = 0
  let hugeAnswerBytesSent = 0
  const calls: BackendApiCall[] = []
  const waiting: Array<() => void> = []
  const held: Array<() => void> = []
  const heldApiCalls: Array<() => void> = []
  const signer = (): SigningKey => published[0] as SigningKey
  const jwksText = (): string => JSON.stringify({ keys: published.map((key) => key.publicJwk) })

  const serveJwks = (res: ServerResponse): void => {
    jwksRequests++
    for (const notify of waiting.splice(0)) notify()
    const fault = issuer.jwksFault
    switch (fault) {
      case undefined:
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' }).end(jwksText())
        return
      case 'hang':
        res.on('close', () => { if (!res.writableFinished) abandonedJwksRequests++ })
        return
      case 'held':
        held.push(() => res.writeHead(200, { 'content-type': 'application/json' }).end(jwksText()))
        return
      case 'reset':
        res.socket?.destroy()
        return
      default:
        answerJwksFault(fault, res, jwksText())
    }
  }

  const serveBackendApi = (req: IncomingMessage, res: ServerResponse, text: string | undefined): void => {
    calls.push({
      path: req.url ?? '',
      authorization: req.headers.authorization,
      clerkApiVersion: req.headers['clerk-api-version'] as string | undefined,
      contentType: req.headers['content-type'],
      body: text === undefined ? undefined : parsedOrUndefined(text)
    })
    const fault = issuer.backendApiFault
    const json = { 'content-type': 'application/json' }
    if (typeof fault === 'object') {
      res.writeHead(fault.status, json).end('raw' in fault ? fault.raw : JSON.stringify(fault.body))
      return
    }
    switch (fault) {
      case 'hang': return
      case 'reset': req.socket.destroy(); return
      case 'error': res.writeHead(500, json).end('{"errors":[{"message":"boom","long_message":"boom","code":"internal_clerk_error"}]}'); return
      case 'garbage': res.writeHead(200, json).end('{"object":'); return
      case 'huge': streamHugeAnswer(res, (bytes) => { hugeAnswerBytesSent += bytes }); return
      case 'drip': {
        res.writeHead(200, json).write('{"object":"api_key","id":"')
        const timer = setInterval(() => res.write('x'), 50)
        res.on('close', () => clearInterval(timer))
        return
      }
    }
    const answerNow = (): void => {
      const answer = text === undefined
        ? { status: 413, body: { errors: [{ message: 'Request body too large', long_message: 'Request body too large', code: 'request_body_too_large' }] } }
        : answerBackendApi({ method: 'POST', path: req.url ?? '', authorization: req.headers.authorization, body: text }, { secretKey, machineSecretKeys: [machineSecretKey] },
          (type, token) => readDevOpaqueToken(instanceKey.privateKey, type, token), now())
      res.writeHead(answer.status, json).end(JSON.stringify(answer.body))
    }
    if (fault === 'held') heldApiCalls.push(answerNow)
    else answerNow()
  }

  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/.well-known/jwks.json') {
      serveJwks(res)
      return
    }
    if (req.method === 'POST') {
      readBody(req).then((text) => serveBackendApi(req, res, text), () => res.destroy())
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

  const sessionToken = (input: SessionTokenInput = {}): string =>
    mintSessionToken(signer(), url, { azp: authorizedParty, nowSeconds: nowSeconds(), sid: 'sess_test', ...input, sub: input.sub ?? 'user_test' })
  const opaque = (type: 'api_key' | 'm2m_token' | 'oauth_token', fallbackSubject: string, input: OpaqueTokenInput): string =>
    mintDevOpaqueToken(instanceKey.privateKey, {
      type,
      subject: input.subject ?? fallbackSubject,
      scopes: input.scopes ?? [],
      claims: input.claims ?? null,
      ...(type === 'api_key' ? { name: input.name ?? 'test-key' } : {}),
      ...(type === 'oauth_token' ? { clientId: input.clientId ?? 'client_test' } : {}),
      expiration: input.expiration !== undefined ? input.expiration : type === 'api_key' ? null : now() + 3_600_000,
      revoked: input.revoked ?? false
    }, now())

  const issuer: TestIssuer = {
    url,
    get kid () { return signer().publicJwk.kid },
    secretKey,
    machineSecretKey,
    webhookSigningSecret,
    webhook: (type, input = {}, signOptions = {}) => signWebhook(webhookSigningSecret, JSON.stringify(webhookEvent(type, input, now())), { sentAt: now(), ...signOptions }),
    publicKeyPem: createPublicKey(instanceKey.privateKey).export({ type: 'spki', format: 'pem' }) as string,
    sessionToken,
    m2mToken: (input = {}) => mintM2mToken(signer(), url, { nowSeconds: nowSeconds(), ...input, machineId: input.machineId ?? 'mch_test' }),
    oauthToken: (input = {}) => mintOAuthToken(signer(), url, { nowSeconds: nowSeconds(), ...input, userId: input.userId ?? 'user_test', clientId: input.clientId ?? 'client_test' }),
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
        wrongIssuer: mintSessionToken(signer(), 'https://clerk.another-app.example', { azp: authorizedParty, nowSeconds: nowSeconds(), sub: 'user_test' }),
        wrongKey: issuer.sign(issuer.sessionClaims(), { key: generateSigningKey(), header: { kid: signer().publicJwk.kid } }),
        wrongAuthorizedParty: sessionToken({ azp: 'https://evil.example' }),
        badSignature: `${valid.slice(0, at)}${other}${valid.slice(at + 1)}`
      }
    },
    sessionClaims: (overrides = {}) => {
      const claims: Record<string, unknown> = { ...sessionClaims({ issuer: url, sub: 'user_test', sid: 'sess_test', azp: authorizedParty, nowSeconds: nowSeconds() }), ...overrides }
      for (const name of Object.keys(claims)) if (claims[name] === undefined) delete claims[name]
      return claims
    },
    sign: (payload = issuer.sessionClaims(), signOptions = {}) => {
      const key = signOptions.key ?? signer()
      return signJwt({ kid: key.publicJwk.kid, ...signOptions.header }, payload, key.privateKey)
    },
    publishKeys: (keys) => {
      if (keys.length === 0) throw new Error('publish at least one key: the first signs new tokens')
      published = [...keys]
    },
    jwksFault: undefined,
    releaseHeldJwks: () => { for (const answer of held.splice(0)) answer() },
    releaseHeldBackendApi: () => { for (const answer of heldApiCalls.splice(0)) answer() },
    nextJwksRequest: async () => await new Promise<void>((resolve) => waiting.push(resolve)),
    jwksRequests: () => jwksRequests,
    abandonedJwksRequests: () => abandonedJwksRequests,
    backendApiFault: undefined,
    backendApiCalls: () => calls,
    hugeAnswerBytesSent: () => hugeAnswerBytesSent,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    }
  }
  return issuer
}
