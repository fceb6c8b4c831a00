// npm run -s build && node dist/bench/dashboard-picture.js: the picture of the Grafana dashboard in the
// README, from a real run. Two replicas of the compiled service against the development issuer, real
// Prometheus (Debian's package) scraping them every second, about two minutes of mixed traffic (callers,
// expired and forged tokens, machines, GraphQL, a burst of new users), then every panel's own query
// from deploy/grafana/clerk-auth-service.json asked of Prometheus and drawn in Chromium. Grafana itself
// is not run (no package on this machine): the layout, titles, units and queries are the dashboard's;
// the drawing is this script's. Needs: apt-get install prometheus chromium.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { chromium } from 'playwright-core'
import { createTestIssuer, generateSigningKey, mintM2mToken, mintSessionToken } from '../plugins/clerk-auth/testing/index.js'
import { freePort } from './free-port.js'

const root = join(import.meta.dirname, '../..')
const PROMETHEUS = '/usr/bin/prometheus'
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
for (const binary of [PROMETHEUS, CHROMIUM]) {
  if (!existsSync(binary)) {
    process.stderr.write(`${binary} is missing: apt-get install prometheus chromium\n`)
    process.exit(1)
  }
}

const children: ChildProcess[] = []
async function waitUntilAnswers (url: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    try {
      if ((await fetch(url)).ok) return
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`${url} never answered`)
}

// --- the service: two replicas, as behind a load balancer
const key = generateSigningKey()
const issuer = await createTestIssuer({ key, authorizedParty: 'http://localhost:3000' })
const replicas: Array<{ url: string, metrics: number }> = []
for (let i = 0; i < 2; i++) {
  const [port, metrics] = [await freePort(), await freePort()]
  children.push(spawn(process.execPath, [join(root, 'dist/src/server.js')], {
    env: { ...process.env, NODE_ENV: 'production', CLERK_ISSUER_URL: issuer.url, CLERK_SECRET_KEY: issuer.secretKey, CLERK_API_URL: issuer.url, PORT: String(port), METRICS_PORT: String(metrics), LOG_LEVEL: 'warn', CLERK_VERIFICATION_CACHE_SIZE: '1000' },
    stdio: 'ignore'
  }))
  replicas.push({ url: `http://127.0.0.1:${port}`, metrics })
  await waitUntilAnswers(`http://127.0.0.1:${port}/ready`)
}

// --- Prometheus, scraping both every second
const promDir = mkdtempSync(join(tmpdir(), 'dashboard-picture-'))
const promPort = await freePort()
writeFileSync(join(promDir, 'prometheus.yml'), `global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: clerk-auth-service
    static_configs: [{ targets: [${replicas.map((r) => `'127.0.0.1:${r.metrics}'`).join(', ')}] }]
`)
children.push(spawn(PROMETHEUS, [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' }))
const prometheus = `http://127.0.0.1:${promPort}`
await waitUntilAnswers(`${prometheus}/-/ready`)

// --- traffic, in phases
const nowS = Math.floor(Date.now() / 1000)
// valid for the whole run, or expired two hours ago
const session = (i: number, valid = true): string => mintSessionToken(key, issuer.url, { sub: `user_${i % 500}`, sid: `sess_${i}`, azp: 'http://localhost:3000', ttlSeconds: valid ? 3600 : 60, nowSeconds: valid ? nowS : nowS - 7200 })
const users = Array.from({ length: 400 }, (_, i) => session(i))
const expired = Array.from({ length: 50 }, (_, i) => session(10_000 + i, false))
const forged = `${users[0]?.slice(0, -20) as string}AAAAAAAAAAAAAAAAAAAA`
const m2m = mintM2mToken(key, issuer.url, { machineId: 'mch_reports' })
const newcomers = Array.from({ length: 6000 }, (_, i) => session(20_000 + i))
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

async function drive (seconds: number, rate: number, requests: Array<{ method?: 'GET' | 'POST', path: string, headers?: Record<string, string>, body?: string, tokens?: string[] }>): Promise<void> {
  await Promise.all(replicas.map(async (replica) => {
    let next = 0
    await autocannon({
      url: replica.url,
      connections: 10,
      duration: seconds,
      overallRate: rate,
      requests: requests.map((r) => r.tokens === undefined
        ? { method: r.method ?? 'GET', path: r.path, headers: r.headers, body: r.body }
        : { method: r.method ?? 'GET', path: r.path, setupRequest: (req: Record<string, unknown>) => ({ ...req, headers: bearer(r.tokens?.[next++ % (r.tokens?.length ?? 1)] as string) }) }) as never
    })
  }))
}
// autocannon takes these in turn: weights by repetition (mostly callers; one in ten refused)
const times = <T>(n: number, item: T): T[] => Array.from({ length: n }, () => item)
const everyday = [
  ...times(11, { path: '/rest-endpoints/1', tokens: users }),
  ...times(4, { method: 'POST' as const, path: '/graphql', headers: { ...bearer(users[1] as string), 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ pingOne(id: "7") }' }) }),
  ...times(3, { path: '/machine-pings/3', headers: bearer(m2m) }),
  { path: '/rest-endpoints/3', tokens: expired },
  { path: '/rest-endpoints/4' }
]
const started = Math.floor(Date.now() / 1000)
process.stdout.write('traffic: everyday load...\n')
await drive(40, 1500, everyday)
process.stdout.write('traffic: a burst of new users, and forged tokens...\n')
await drive(25, 3000, [...everyday, ...times(8, { path: '/rest-endpoints/5', tokens: newcomers }), ...times(2, { path: '/rest-endpoints/6', headers: bearer(forged) })])
process.stdout.write('traffic: everyday load again...\n')
await drive(40, 1500, everyday)
const ended = Math.floor(Date.now() / 1000)
await new Promise((resolve) => setTimeout(resolve, 2500))

// --- every panel's queries, asked of Prometheus
interface Target { expr: string, legendFormat?: string }
interface Panel { type: string, title: string, gridPos: { x: number, y: number, w: number, h: number }, targets: Target[], fieldConfig: { defaults: { unit?: string, thresholds?: { steps: Array<{ color: string, value: number | null }> } } } }
const dashboard = JSON.parse(readFileSync(join(root, 'deploy/grafana/clerk-auth-service.json'), 'utf8')) as { title: string, panels: Panel[] }
const promql = (expr: string): string => expr.replaceAll('$__rate_interval', '10s').replaceAll('$job', '.*')
interface Series { metric: Record<string, string>, values: Array<[number, string]> }
async function range (expr: string): Promise<Series[]> {
  const query = new URLSearchParams({ query: promql(expr), start: String(started), end: String(ended), step: '1' })
  const body = await (await fetch(`${prometheus}/api/v1/query_range?${query.toString()}`)).json() as { status: string, error?: string, data: { result: Series[] } }
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error ?? body.status}`)
  return body.data.result
}
const legend = (format: string | undefined, metric: Record<string, string>): string =>
  (format ?? '').replace(/\{\{\s*(\w+)\s*\}\}/g, (_, name: string) => metric[name] ?? '') || Object.values(metric).join(' ')
const drawn = []
for (const panel of dashboard.panels) {
  const lines = []
  for (const target of panel.targets) {
    for (const series of await range(target.expr)) lines.push({ name: legend(target.legendFormat, series.metric), points: series.values.map(([t, v]) => [t - started, Number(v)] as [number, number]) })
  }
  drawn.push({ ...panel, lines })
}
writeFileSync(join(promDir, 'panels.json'), JSON.stringify(drawn))

// --- drawn in Chromium, on Grafana's 24-column grid (30 px a row)
const page = `<!doctype html><meta charset="utf-8"><style>
body { margin: 0; background: #111217; color: #ccccdc; font: 12px Inter, Helvetica, Arial, sans-serif; }
h1 { font-size: 18px; font-weight: 500; margin: 12px 16px; } h1 small { color: #8e8e9e; font-size: 12px; margin-left: 12px; }
#grid { position: relative; margin: 0 8px; }
.panel { position: absolute; background: #181b1f; border: 1px solid #2c3235; border-radius: 2px; box-sizing: border-box; padding: 6px 8px; overflow: hidden; }
.title { font-weight: 500; margin-bottom: 4px; } .stat { font-size: 30px; font-weight: 600; text-align: center; margin-top: 10px; }
.legend { position: absolute; right: 8px; top: 28px; width: 34%; font-size: 10.5px; line-height: 14px; } .legend span { display: inline-block; width: 10px; height: 3px; margin-right: 5px; vertical-align: middle; }
svg text { fill: #8e8e9e; font-size: 10px; }
</style><h1>${dashboard.title}<small>${new Date(started * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC, ${ended - started} s of traffic, two replicas (drawn from Prometheus by bench/dashboard-picture.ts)</small></h1><div id="grid"></div>
<script>
const panels = ${JSON.stringify(drawn)}
const colors = ['#73bf69', '#f2cc0c', '#5794f2', '#ff9830', '#f2495c', '#b877d9', '#8ab8ff', '#ffee52', '#96d98d', '#ff7383']
const width = document.body.clientWidth - 16, unitW = width / 24, rowH = 30
const fmt = (v, unit) => !Number.isFinite(v) ? 'n/a' : Number.isInteger(v) && (unit === 'short' || unit === undefined) ? String(v) : unit === 'percentunit' ? (v * 100).toFixed(1) + ' %' : unit === 's' ? (v < 1 ? (v * 1000).toFixed(v < 0.01 ? 2 : 0) + ' ms' : v.toFixed(0) + ' s') : unit === 'bytes' ? (v / 1048576).toFixed(0) + ' MiB' : unit === 'reqps' ? v.toFixed(v < 10 ? 2 : 0) + ' req/s' : unit === 'ops' ? v.toFixed(0) + ' ops/s' : (Math.abs(v) >= 1000 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : 1))
for (const p of panels) {
  const el = document.createElement('div'); el.className = 'panel'
  Object.assign(el.style, { left: p.gridPos.x * unitW + 'px', top: p.gridPos.y * rowH + 'px', width: p.gridPos.w * unitW - 6 + 'px', height: p.gridPos.h * rowH - 6 + 'px' })
  el.innerHTML = '<div class="title">' + p.title + '</div>'
  const unit = p.fieldConfig.defaults.unit
  if (p.type === 'stat') {
    const last = p.lines[0]?.points.filter(([, v]) => Number.isFinite(v)).at(-1)?.[1]
    const steps = p.fieldConfig.defaults.thresholds?.steps ?? [{ color: 'green', value: null }]
    const color = [...steps].reverse().find((s) => s.value === null || (last ?? -Infinity) >= s.value)?.color ?? 'green'
    el.style.background = { green: '#1a7311', orange: '#c4600e', red: '#a1182a' }[color] ?? '#181b1f'
    el.innerHTML += '<div class="stat">' + (last === undefined ? 'No data' : fmt(last, unit)) + '</div>'
  } else {
    const w = p.gridPos.w * unitW * 0.64, h = p.gridPos.h * rowH - 44
    const pts = p.lines.flatMap((l) => l.points).filter(([, v]) => Number.isFinite(v))
    const maxT = Math.max(1, ...pts.map(([t]) => t)), maxV = Math.max(1e-9, ...pts.map(([, v]) => v)) * 1.1
    let svg = '<svg width="' + w + '" height="' + h + '">'
    for (let i = 0; i <= 4; i++) { const y = 4 + (h - 20) * (1 - i / 4); svg += '<line x1="46" x2="' + w + '" y1="' + y + '" y2="' + y + '" stroke="#2c3235"/><text x="0" y="' + (y + 3) + '">' + fmt(maxV * i / 4, unit) + '</text>' }
    p.lines.forEach((l, i) => {
      const d = l.points.filter(([, v]) => Number.isFinite(v)).map(([t, v]) => (46 + (w - 50) * t / maxT).toFixed(1) + ',' + (4 + (h - 20) * (1 - v / maxV)).toFixed(1)).join(' ')
      svg += '<polyline fill="none" stroke-width="1.5" stroke="' + colors[i % colors.length] + '" points="' + d + '"/>'
    })
    svg += '<text x="46" y="' + (h - 2) + '">0 s</text><text x="' + (w - 30) + '" y="' + (h - 2) + '">' + maxT + ' s</text></svg>'
    el.innerHTML += svg + '<div class="legend">' + p.lines.slice(0, 10).map((l, i) => '<div><span style="background:' + colors[i % colors.length] + '"></span>' + l.name + ' ' + fmt(l.points.filter(([, v]) => Number.isFinite(v)).at(-1)?.[1] ?? NaN, unit) + '</div>').join('') + '</div>'
  }
  document.getElementById('grid').appendChild(el)
}
document.getElementById('grid').style.height = Math.max(...panels.map((p) => (p.gridPos.y + p.gridPos.h) * rowH)) + 'px'
</script>`
writeFileSync(join(promDir, 'dashboard.html'), page)
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'] })
const tab = await browser.newPage({ viewport: { width: 1600, height: 1000 } })
await tab.goto(`file://${join(promDir, 'dashboard.html')}`)
const picture = join(root, 'deploy/grafana/dashboard.png')
await tab.screenshot({ path: picture, fullPage: true })
await browser.close()
for (const child of children) child.kill('SIGTERM')
await issuer.close()
rmSync(promDir, { recursive: true, force: true })
process.stdout.write(`${picture}\n`)
