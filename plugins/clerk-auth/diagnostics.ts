// What clerk-auth tells observers such as a tracer, on Node's diagnostics channels: nothing is built
// or published while no one subscribes. No message carries a token, a cookie or a secret.
import { channel, tracingChannel } from 'node:diagnostics_channel'
import type { ClerkAuth } from './auth-object.js'
import type { RefusalCode } from './refusals.js'
import type { TokenType } from './token-types.js'

/** Published once per authentication: every protected route, every GraphQL operation, every gateway check. */
export interface AuthenticationMessage {
  /** The Fastify request authenticated. */
  request: unknown
  /** 'ok' for a caller, otherwise the refusal code. */
  code: RefusalCode | 'ok'
  /** The caller, when code is 'ok'. */
  auth: ClerkAuth | undefined
  /** The kind of token, once it could be told. */
  tokenType: TokenType | undefined
  /** The key a JWT named, once its header was read. */
  keyId: string | undefined
  /** Whether the verdict came from the verification cache. */
  cached: boolean
}

/** Around each fetch of the issuer's key set; status and keys are set once it has ended. */
export interface KeySetFetchContext {
  issuer: string
  outcome?: 'ok' | 'timeout' | 'failed'
  /** The HTTP status, when the issuer answered. */
  status?: number
  /** Keys in the set loaded. */
  keys?: number
}

/** Around a request's wait for a key its token names and the loaded set lacks: startedFetch when it asked for the set. */
export interface KeyWaitContext {
  keyId: string
  startedFetch: boolean
}

/** Around each call to Clerk's Backend API to verify an opaque machine token. */
export interface BackendApiCallContext {
  tokenType: TokenType
  /** The endpoint's path, without the host. */
  path: string
  outcome?: 'verified' | 'refused' | 'timeout' | 'unreachable' | 'status' | 'answer'
  status?: number
}

export const CHANNELS = {
  authentication: 'clerk-auth:authentication',
  keySetFetch: 'clerk-auth:key-set-fetch',
  keyWait: 'clerk-auth:key-wait',
  backendApiCall: 'clerk-auth:backend-api-call'
} as const

export const authentications = channel(CHANNELS.authentication)
export const keySetFetches = tracingChannel<unknown, KeySetFetchContext>(CHANNELS.keySetFetch)
export const keyWaits = tracingChannel<unknown, KeyWaitContext>(CHANNELS.keyWait)
export const backendApiCalls = tracingChannel<unknown, BackendApiCallContext>(CHANNELS.backendApiCall)
