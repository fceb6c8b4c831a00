import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { makeRoutesPublic } from '../clerk-auth/index.js'
import { clientScript } from './client.js'

const require = createRequire(import.meta.url)
const packageDir = (name: string): string => dirname(require.resolve(`${name}/package.json`))
const versionOf = (name: string): string => (require(`${name}/package.json`) as { version: string }).version

// GraphiQL and React from the project's own node_modules: the page loads nothing from elsewhere.
const assets: Record<string, { dir: string, file: string }> = {
  'react.js': { dir: packageDir('react'), file: 'umd/react.production.min.js' },
  'react-dom.js': { dir: packageDir('react-dom'), file: 'umd/react-dom.production.min.js' },
  'graphiql.js': { dir: packageDir('graphiql'), file: 'graphiql.min.js' },
  'graphiql.css': { dir: packageDir('graphiql'), file: 'graphiql.min.css' }
}
// Versioned URLs, so the files can be cached for a year.
const ASSET_PATH = `/graphiql/assets/${versionOf('graphiql')}-${versionOf('react')}`
const YEAR_SECONDS = 31_536_000

export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  // React sets style attributes; no style sheet or script comes from anywhere but here.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'"
].join('; ')

function page (devToken: boolean): string {
  const hint = devToken
    ? 'Development mode: a fresh development token (valid for an hour) is already in the Headers tab.'
    : 'To run operations, put {"Authorization": "Bearer &lt;token&gt;"} in the Headers tab, with a token from your frontend: <code>await getToken()</code> (Clerk). Introspection works without one.'
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL</title>
<link rel="stylesheet" href="${ASSET_PATH}/graphiql.css">
</head>
<body style="margin:0;height:100vh;display:flex;flex-direction:column;font-family:system-ui,sans-serif">
<p id="token-hint" style="margin:0;padding:6px 12px;font-size:13px;background:#f3f4f6;border-bottom:1px solid #ddd">${hint}</p>
<div id="graphiql" style="flex:1;min-height:0" data-endpoint="/graphql" data-dev-token="${String(devToken)}"></div>
<script src="${ASSET_PATH}/react.js"></script>
<script src="${ASSET_PATH}/react-dom.js"></script>
<script src="${ASSET_PATH}/graphiql.js"></script>
<script src="${ASSET_PATH}/app.js"></script>
</body>
</html>
`
}

async function graphiql (fastify: FastifyInstance): Promise<void> {
  // The page and its files are public; the queries it sends are authenticated like any other.
  makeRoutesPublic(fastify)
  await fastify.register(fastifyStatic, { root: [...new Set(Object.values(assets).map((asset) => asset.dir))], serve: false })

  const devIssuer = fastify.devIssuer
  const html = page(devIssuer !== null)
  fastify.get('/graphiql', async (_request, reply) => {
    return await reply.header('content-security-policy', contentSecurityPolicy).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(html)
  })
  fastify.get(`${ASSET_PATH}/app.js`, async (_request, reply) => {
    return await reply.header('cache-control', `public, max-age=${YEAR_SECONDS}, immutable`).type('text/javascript; charset=utf-8').send(clientScript)
  })
  fastify.get<{ Params: { name: string } }>(`${ASSET_PATH}/:name`, async (request, reply) => {
    // hasOwn: names such as "constructor" must not reach the object's prototype
    if (!Object.hasOwn(assets, request.params.name)) return await reply.callNotFound()
    const asset = assets[request.params.name] as { dir: string, file: string }
    return await reply.sendFile(asset.file, asset.dir, { maxAge: YEAR_SECONDS * 1000, immutable: true })
  })

  // Development only: the built-in issuer mints a token for the page. Nothing mints tokens in production.
  if (devIssuer !== null) {
    fastify.get('/graphiql/dev-token', async (_request, reply) => {
      reply.header('cache-control', 'no-store')
      return { token: devIssuer.sessionToken({ sub: 'user_graphiql', ttlSeconds: 3600 }) }
    })
  }
}

export default fp(graphiql, { name: 'graphiql', fastify: '5.x', dependencies: ['clerk-auth', 'dev-issuer'], encapsulate: true })
