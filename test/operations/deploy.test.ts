// The container recipe and the Kubernetes manifests, held to the service's own ports, routes and
// settings so that they cannot drift. Nothing is built or deployed here (no image pulls, no cluster).
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { resolveOptions } from '../../plugins/clerk-auth/options.js'
import { serviceNamed, tracingRequested } from '../../src/otel-variables.js'
import { clerkAuthOptions, settingsSchema, type Settings } from '../../src/settings.js'
import { buildApp } from '../support/app.js'
import { tempDir } from '../../plugins/clerk-auth/test/support/temp-dir.js'
import { freePort } from '../support/loopback.js'
import { startRedis } from '../support/redis.js'

const root = join(import.meta.dirname, '../..')
const manifestsDir = join(root, 'deploy/kubernetes')
type Manifest = { kind: string, metadata: { name: string, labels?: Record<string, string> }, [key: string]: any }
const parse = (file: string): Manifest[] => parseAllDocuments(readFileSync(join(manifestsDir, file), 'utf8')).map((doc) => doc.toJS() as Manifest)
const kustomization = parse('kustomization.yaml')[0] as unknown as { resources: string[] }
// what `kubectl apply -k` applies, and the Secret the operator creates from the example
const manifests: Manifest[] = [...kustomization.resources.flatMap(parse), ...parse('secret.yaml.example')]
const of = (kind: string): Manifest => manifests.find((manifest) => manifest.kind === kind) as Manifest
const settingNames = Object.keys(settingsSchema.properties)
// OpenTelemetry's own variables, read by its SDK (docs/tracing.md)
const OTEL_VARIABLES = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_SERVICE_NAME', 'OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG']

t.test('the kustomization applies every manifest but the Secret, which is only an example', async (t) => {
  const files = readdirSync(manifestsDir).filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml')
  t.same([...kustomization.resources].sort(), files.sort(), 'every manifest is listed')
  t.notOk(kustomization.resources.flatMap(parse).some((manifest) => manifest.kind === 'Secret'), 'no Secret is applied')
  t.notOk(files.includes('secret.yaml'), 'nor picked up by kubectl apply -f')
})

t.test('the manifests: one of each kind, all about the same app', async (t) => {
  t.same(manifests.map((manifest) => manifest.kind).sort(), ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Secret', 'Service'])
  const deployment = of('Deployment')
  const labels = deployment.spec.template.metadata.labels
  t.same(deployment.spec.selector.matchLabels, labels)
  t.same(of('Service').spec.selector, labels)
  t.same(of('PodDisruptionBudget').spec.selector.matchLabels, labels)
  t.equal(of('HorizontalPodAutoscaler').spec.scaleTargetRef.name, deployment.metadata.name)
  t.ok(of('PodDisruptionBudget').spec.minAvailable < deployment.spec.replicas, 'a disruption can take one pod at a time')
})

t.test('the Valkey example: what the docs\' REDIS_URL names, reachable by the service\'s pods only', async (t) => {
  const dir = join(manifestsDir, 'valkey')
  const resources = (parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0]?.toJS() as { resources: string[] }).resources
  const valkey = resources.flatMap((file) => parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((doc) => doc.toJS() as Manifest))
  const kind = (name: string): Manifest => valkey.find((manifest) => manifest.kind === name) as Manifest
  const url = /REDIS_URL=(redis:\/\/[\w-]+:\d+)/.exec(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))?.[1] as string
  t.equal(url, `redis://${kind('Service').metadata.name as string}:${String(kind('Service').spec.ports[0].port)}`)
  t.match(readFileSync(join(root, 'docs/replicas.md'), 'utf8'), url, 'the docs give the same URL')
  t.equal(kind('Service').spec.ports[0].targetPort, kind('StatefulSet').spec.template.spec.containers[0].ports[0].name)
  t.same(kind('NetworkPolicy').spec.ingress[0].from[0].podSelector.matchLabels, of('Deployment').spec.template.metadata.labels, 'the service\'s pods')
  t.same(kind('StatefulSet').spec.selector.matchLabels, kind('StatefulSet').spec.template.metadata.labels)
  t.ok(settingsSchema.properties.REDIS_URL.pattern !== undefined && new RegExp(settingsSchema.properties.REDIS_URL.pattern).test(url), 'a URL the setting accepts')
})

t.test('the settings: names the service reads, values it accepts, secrets apart', async (t) => {
  const config = of('ConfigMap').data as Record<string, string>
  const secrets = of('Secret').stringData as Record<string, string>
  for (const name of [...Object.keys(config), ...Object.keys(secrets)]) t.ok(settingNames.includes(name) || OTEL_VARIABLES.includes(name), `${name} is a setting`)
  // credentials: keys, and a store URL that may carry a password
  for (const name of Object.keys(secrets)) t.match(name, /SECRET|^REDIS_URL$/, `${name} is a secret`)
  const container = of('Deployment').spec.template.spec.containers[0]
  t.same(container.envFrom.map((from: Record<string, { name: string }>) => Object.values(from)[0]?.name), [of('ConfigMap').metadata.name, of('Secret').metadata.name])
  // what the service would make of them: the settings schema, then the plugin's own checks
  const { default: envSchema } = await import('env-schema')
  const settings = envSchema<Settings>({ schema: settingsSchema, data: { ...config, ...secrets }, dotenv: false })
  t.equal(settings.NODE_ENV, 'production')
  t.doesNotThrow(() => resolveOptions(clerkAuthOptions(settings, null)), 'clerk-auth takes the options they make')
})

t.test('traces: off as shipped, on once the collector\'s endpoint is filled in, sampled by ratio', async (t) => {
  const config = of('ConfigMap').data as Record<string, string>
  t.equal(tracingRequested(config), false)
  t.equal(tracingRequested({ ...config, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.observability:4318' }), true)
  t.equal(config.OTEL_TRACES_SAMPLER, 'parentbased_traceidratio', 'callers\' sampling decisions are kept')
  const ratio = Number(config.OTEL_TRACES_SAMPLER_ARG)
  t.ok(ratio > 0 && ratio <= 1, 'a ratio')
  t.equal(serviceNamed(config), true)
  const dashboard = JSON.parse(readFileSync(join(root, 'deploy/grafana/clerk-auth-service.json'), 'utf8')) as { panels: Array<{ title: string, links?: Array<{ url: string }> }> }
  const latency = dashboard.panels.find((panel) => panel.title.startsWith('Latency'))
  const explore = JSON.parse(new URL(latency?.links?.[0]?.url ?? '', 'http://grafana').searchParams.get('left') ?? '{}') as { queries?: Array<{ query: string }> }
  t.match(explore.queries?.[0]?.query, `resource.service.name = "${config.OTEL_SERVICE_NAME as string}"`, 'the latency panel links to this service\'s traces')
})

t.test('the container: port, probes and drain agree with the service', async (t) => {
  const config = of('ConfigMap').data as Record<string, string>
  const pod = of('Deployment').spec.template.spec
  const container = pod.containers[0]
  const port = container.ports.find((p: { name: string }) => p.name === 'http').containerPort
  t.equal(port, Number(config.PORT))
  t.equal(config.HOST, '0.0.0.0', 'reachable from outside the pod')
  t.equal(of('Service').spec.ports[0].targetPort, 'http')
  const metricsPort = container.ports.find((p: { name: string }) => p.name === 'metrics').containerPort
  t.equal(metricsPort, Number(config.METRICS_PORT), 'metrics on their own port')
  t.equal(config.METRICS_HOST, '0.0.0.0', 'which Prometheus can reach')
  t.equal(Number(of('Deployment').spec.template.metadata.annotations['prometheus.io/port']), metricsPort)
  t.same(of('Service').spec.ports.map((p: { targetPort: string }) => p.targetPort), ['http'], 'the Service never exposes the metrics')
  t.equal(container.readinessProbe.httpGet.path, '/ready')
  t.equal(container.livenessProbe.httpGet.path, '/health')
  t.equal(container.readinessProbe.httpGet.port, 'http')
  t.ok(container.readinessProbe.failureThreshold >= 3, 'one slow probe does not take a pod out')
  const app = await buildApp(t, { DEV_ISSUER_PORT: 0, DEV_ISSUER_DIR: tempDir(t) })
  for (const path of ['/ready', '/health']) t.ok(app.hasRoute({ method: 'GET', url: path }), `${path} is a route`)
  t.ok(container.resources.requests.cpu !== undefined && container.resources.requests.memory !== undefined, 'resource requests')
  // closing waits the drain plus up to 10 s for requests in flight (src/server.ts)
  t.ok(pod.terminationGracePeriodSeconds * 1000 > Number(config.SHUTDOWN_DRAIN_MS) + 10_000, 'the grace period outlasts the drain')
  t.equal(pod.securityContext.runAsNonRoot, true)
})

t.test('the Dockerfile: multi-stage, production dependencies, non-root, the same port, a health check', async (t) => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
  const config = of('ConfigMap').data as Record<string, string>
  t.equal([...dockerfile.matchAll(/^FROM node:(\d+)/gm)].length, 2, 'two stages')
  for (const [, major] of dockerfile.matchAll(/^FROM node:(\d+)/gm)) t.equal(major, process.versions.node.split('.')[0], 'the Node major version CI runs')
  t.match(dockerfile, /npm prune --omit=dev/)
  t.match(dockerfile, /^USER node$/m)
  t.match(dockerfile, new RegExp(`^EXPOSE ${config.PORT as string}$`, 'm'))
  t.match(dockerfile, new RegExp(`^EXPOSE ${config.METRICS_PORT as string}$`, 'm'))
  t.match(dockerfile, /^\s+HOST=0\.0\.0\.0/m)
  t.match(dockerfile, /METRICS_HOST=0\.0\.0\.0/)
  t.match(dockerfile, /^HEALTHCHECK [\s\S]*\/health/m)
  const [, preload, entry] = /^CMD \["node", "--import", "([^"]+)", "([^"]+)"\]$/m.exec(dockerfile) ?? []
  t.ok(entry !== undefined && existsSync(join(root, entry)), `${entry ?? 'the entry point'} is what the build makes`)
  t.ok(preload !== undefined && existsSync(join(root, preload)), `${preload ?? 'the tracing preload'} is what the build makes`)
  t.equal(preload, './dist/src/tracing.js', 'as npm start loads it')
  const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n')
  for (const path of ['node_modules', '.env', '.dev-issuer', '.git']) t.ok(ignored.includes(path), `${path} stays out of the image`)
})

t.test('the Grafana dashboard and the alert rules query only metrics the service exposes', async (t) => {
  // with a shared store, so that its metrics are there too
  const redis = await startRedis(t)
  const app = await buildApp(t, { DEV_ISSUER_PORT: 0, DEV_ISSUER_DIR: tempDir(t), METRICS_PORT: await freePort(), REDIS_URL: redis.url })
  const text = (await app.metrics?.read())?.body ?? ''
  const exposed = new Set<string>()
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    exposed.add(name as string)
    if (type === 'histogram' || type === 'summary') for (const suffix of ['_bucket', '_sum', '_count']) exposed.add(`${name as string}${suffix}`)
  }
  const metricNames = (expr: string): string[] => [...expr.matchAll(/\b((?:clerk_auth|http|process|nodejs|graphql_ws|shared_store)_[a-z0-9_]+)\b/g)].map((m) => m[1] as string)

  const dashboard = JSON.parse(readFileSync(join(root, 'deploy/grafana/clerk-auth-service.json'), 'utf8')) as { panels: Array<{ title: string, targets: Array<{ expr: string }> }> }
  t.ok(dashboard.panels.length >= 10, `${dashboard.panels.length} panels`)
  const dashboardText = readFileSync(join(root, 'deploy/grafana/clerk-auth-service.json'), 'utf8')
  const variables = JSON.parse(dashboardText) as { templating: { list: Array<{ name: string }> }, __inputs?: Array<{ name: string }> }
  for (const { name } of [...variables.templating.list, ...(variables.__inputs ?? [])]) {
    t.ok(dashboardText.includes(`$${name}`) || dashboardText.includes(`\${${name}}`), `the dashboard uses its input ${name}`)
  }
  const used = new Set<string>()
  for (const panel of dashboard.panels) {
    for (const { expr } of panel.targets) {
      const names = metricNames(expr)
      t.ok(names.length > 0, `${panel.title}: queries a metric`)
      for (const name of names) {
        used.add(name)
        t.ok(exposed.has(name), `${panel.title}: ${name} is exposed`)
      }
    }
  }
  for (const name of ['clerk_auth_decisions_total', 'clerk_auth_verification_cache_hits_total', 'clerk_auth_signature_checks_total', 'clerk_auth_jwks_fetches_total', 'clerk_auth_key_set_age_seconds', 'http_request_duration_seconds_bucket', 'http_requests_shed_total']) {
    t.ok(used.has(name), `the dashboard shows ${name}`)
  }

  const [rules] = parseAllDocuments(readFileSync(join(root, 'deploy/prometheus/alerts.yaml'), 'utf8')).map((doc) => doc.toJS() as { groups: Array<{ rules: Array<{ alert: string, expr: string }> }> })
  const alerts = rules?.groups.flatMap((group) => group.rules) ?? []
  t.ok(alerts.length >= 5, `${alerts.length} alerts`)
  for (const { alert, expr } of alerts) for (const name of metricNames(expr)) t.ok(exposed.has(name), `${alert}: ${name} is exposed`)
  // codes the rules name are codes the service gives
  const { refusalTexts } = await import('../../plugins/clerk-auth/index.js')
  for (const { alert, expr } of alerts) {
    for (const [, codes] of expr.matchAll(/code=~"([^"]+)"/g)) for (const code of (codes as string).split('|')) t.ok(code in refusalTexts, `${alert}: ${code} is a refusal code`)
  }
})
