// The authentication decision on each request's span (from @fastify/otel), and child spans for the
// work clerk-auth does outside the process or waits for: what clerk-auth publishes on its
// diagnostics channels, turned into OpenTelemetry. Registered only while tracing is on.
import { subscribe, tracingChannel, unsubscribe } from 'node:diagnostics_channel'
import { SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { CHANNELS, type AuthenticationMessage, type BackendApiCallContext, type KeySetFetchContext, type KeyWaitContext } from '../clerk-auth/index.js'
import type { DocumentNode } from 'graphql'
import { requestedOperation } from '../graphql/index.js'
import { decisionOf } from './attributes.js'

export interface TracingOptions {
  /** Put the caller's id on the span as enduser.id: personal data, so off unless asked. */
  recordUserId: boolean
}

export interface TracingDecorator {
  /** Names the GraphQL operation a request runs on its span (graphql.operation.name and .type). */
  observeOperation: (request: FastifyRequest, document: DocumentNode) => void
}

declare module 'fastify' {
  interface FastifyInstance {
    tracing: TracingDecorator
  }
}

interface TracedChannel<Context extends object> {
  name: string
  /** The span for work starting now (its parent: the active span, the request's). */
  start: (context: Context) => Span
  /** What the context says once the work has ended. */
  end: (span: Span, context: Context) => void
}

async function tracing (fastify: FastifyInstance, options: TracingOptions): Promise<void> {
  const tracer = trace.getTracer('fastify-clerk-auth')
  // What each request's authentication found, until its answer (and so its result) is known.
  const found = new WeakMap<FastifyRequest, AuthenticationMessage>()

  // the request's span, when it records (a request the sampler left out costs nothing more here)
  const recordingSpan = (request: FastifyRequest): Span | undefined => {
    const span = request.opentelemetry().span
    return span?.isRecording() === true ? span : undefined
  }

  function onAuthentication (message: unknown): void {
    const authentication = message as AuthenticationMessage
    const request = authentication.request as FastifyRequest
    const span = recordingSpan(request)
    if (span === undefined) return
    found.set(request, authentication)
    const attributes: Attributes = { 'clerk.auth.cached': authentication.cached }
    if (authentication.tokenType !== undefined) attributes['clerk.auth.token_type'] = authentication.tokenType
    if (authentication.keyId !== undefined) attributes['clerk.auth.key_id'] = authentication.keyId
    if (options.recordUserId && authentication.auth !== undefined) {
      attributes['enduser.id'] = authentication.auth.tokenType === 'session_token' ? authentication.auth.userId : authentication.auth.subject
    }
    span.setAttributes(attributes)
  }
  subscribe(CHANNELS.authentication, onAuthentication)

  // The result needs the answer: a caller may still be forbidden (403), a refusal admitted (optional sign-in).
  fastify.addHook('onSend', (request, reply, payload, done) => {
    const authentication = found.get(request)
    if (authentication !== undefined) recordingSpan(request)?.setAttributes(decisionOf(authentication.code, reply.statusCode))
    done(null, payload)
  })

  const traced: Array<() => void> = [
    traceChannel<KeySetFetchContext>({
      name: CHANNELS.keySetFetch,
      start: (context) => tracer.startSpan('clerk.jwks.fetch', { kind: SpanKind.CLIENT, attributes: { 'clerk.issuer': context.issuer } }),
      end: (span, context) => {
        if (context.status !== undefined) span.setAttribute('http.response.status_code', context.status)
        if (context.keys !== undefined) span.setAttribute('clerk.jwks.keys', context.keys)
        span.setAttribute('clerk.jwks.outcome', context.outcome ?? 'failed')
        if (context.outcome !== 'ok') span.setStatus({ code: SpanStatusCode.ERROR, message: context.outcome })
      }
    }),
    traceChannel<KeyWaitContext>({
      name: CHANNELS.keyWait,
      start: (context) => tracer.startSpan('clerk.jwks.wait', { attributes: { 'clerk.auth.key_id': context.keyId, 'clerk.jwks.started_fetch': context.startedFetch } }),
      end: () => {}
    }),
    traceChannel<BackendApiCallContext>({
      name: CHANNELS.backendApiCall,
      start: (context) => tracer.startSpan('clerk.backend_api.verify', {
        kind: SpanKind.CLIENT,
        attributes: { 'http.request.method': 'POST', 'url.path': context.path, 'clerk.auth.token_type': context.tokenType }
      }),
      end: (span, context) => {
        if (context.status !== undefined) span.setAttribute('http.response.status_code', context.status)
        span.setAttribute('clerk.backend_api.outcome', context.outcome ?? 'unreachable')
        if (context.outcome !== 'verified' && context.outcome !== 'refused') span.setStatus({ code: SpanStatusCode.ERROR, message: context.outcome })
      }
    })
  ]

  /** Spans around the work published on a tracing channel; returns what stops them. */
  function traceChannel<Context extends object> (channel: TracedChannel<Context>): () => void {
    const spans = new WeakMap<Context, Span>()
    const handlers = {
      start: (context: Context) => { spans.set(context, channel.start(context)) },
      end: () => {},
      asyncStart: () => {},
      asyncEnd: (context: Context) => {
        const span = spans.get(context)
        if (span === undefined) return
        channel.end(span, context)
        span.end()
      },
      error: (context: Context & { error?: unknown }) => {
        // clerk-auth's refusals carry their code
        const error = context.error as Error & { code?: unknown }
        spans.get(context)?.setStatus({ code: SpanStatusCode.ERROR, message: typeof error.code === 'string' ? error.code : error.message })
      }
    }
    const traceable = tracingChannel<unknown, Context>(channel.name)
    traceable.subscribe(handlers)
    return () => { traceable.unsubscribe(handlers) }
  }

  fastify.decorate('tracing', {
    observeOperation (request: FastifyRequest, document: DocumentNode) {
      const span = recordingSpan(request)
      const operation = span === undefined ? undefined : requestedOperation(document, request)
      if (operation === undefined) return
      const attributes: Attributes = { 'graphql.operation.type': operation.type }
      if (operation.name !== undefined) attributes['graphql.operation.name'] = operation.name
      span?.setAttributes(attributes)
    }
  })

  fastify.addHook('onClose', async () => {
    unsubscribe(CHANNELS.authentication, onAuthentication)
    for (const stop of traced) stop()
  })
}

export default fp(tracing, { name: 'tracing', fastify: '5.x', dependencies: ['@fastify/otel'] })
