// An OpenTelemetry collector's OTLP/HTTP traces endpoint on loopback, as the service's exporter
// reaches one (OTEL_EXPORTER_OTLP_PROTOCOL=http/json): it keeps every byte received and the spans.
import { EventEmitter, once } from 'node:events'
import { createServer } from 'node:http'
import type { Test } from 'tap'
import { serveOnLoopback } from './loopback.js'

type AnyValue = { stringValue?: string, intValue?: string | number, boolValue?: boolean, doubleValue?: number }

export interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  kind: number
  scope: string
  status: { code?: number, message?: string }
  attributes: Record<string, string | number | boolean | undefined>
  resource: Record<string, string | number | boolean | undefined>
}

export interface OtlpReceiver {
  /** The endpoint for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter adds /v1/traces). */
  url: string
  spans: ReceivedSpan[]
  /** Every request body received, as sent. */
  bytes: () => Buffer
  /** Resolves with the spans once found() says what has arrived is enough. */
  waitFor: (found: (spans: ReceivedSpan[]) => boolean) => Promise<ReceivedSpan[]>
}

const valueOf = (value: AnyValue): string | number | boolean | undefined =>
  value.stringValue ?? (value.intValue === undefined ? undefined : Number(value.intValue)) ?? value.boolValue ?? value.doubleValue

const attributesOf = (list: Array<{ key: string, value: AnyValue }> = []): ReceivedSpan['attributes'] =>
  Object.fromEntries(list.map(({ key, value }) => [key, valueOf(value)]))

interface ExportRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: Array<{ key: string, value: AnyValue }> }
    scopeSpans?: Array<{ scope?: { name?: string }, spans?: Array<Omit<ReceivedSpan, 'attributes' | 'resource' | 'scope'> & { attributes?: Array<{ key: string, value: AnyValue }> }> }>
  }>
}

export async function startOtlpReceiver (t: Test): Promise<OtlpReceiver> {
  const bodies: Buffer[] = []
  const spans: ReceivedSpan[] = []
  const arrivals = new EventEmitter()
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const body = Buffer.concat(chunks)
      bodies.push(body)
      if (request.url === '/v1/traces') {
        for (const { resource, scopeSpans = [] } of (JSON.parse(body.toString('utf8')) as ExportRequest).resourceSpans ?? []) {
          for (const { scope, spans: list = [] } of scopeSpans) {
            for (const span of list) spans.push({ ...span, scope: scope?.name ?? '', attributes: attributesOf(span.attributes), resource: attributesOf(resource?.attributes) })
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      arrivals.emit('spans')
    })
  })
  const { url } = await serveOnLoopback(t, server)
  return {
    url,
    spans,
    bytes: () => Buffer.concat(bodies),
    async waitFor (found) {
      while (!found(spans)) await once(arrivals, 'spans')
      return spans
    }
  }
}
