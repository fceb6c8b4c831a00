// What a Clerk frontend does when its API lives on another origin. No build step, no dependency.
'use strict'

const api = (new URLSearchParams(window.location.search).get('api') ?? 'http://localhost:3000').replace(/\/+$/, '')
document.getElementById('page-origin').textContent = window.location.origin
document.getElementById('api').textContent = api

// With Clerk this is `await window.Clerk.session.getToken({ skipCache })` (useAuth().getToken() in
// React). Here the service's development issuer mints the token; it never does in production.
let cachedToken
async function getToken ({ skipCache = false } = {}) {
  if (cachedToken !== undefined && !skipCache) return cachedToken
  const response = await fetch(`${api}/graphiql/dev-token`, { cache: 'no-store' })
  if (!response.ok) throw new Error(`no development token (HTTP ${response.status}): is the service running without CLERK_ISSUER_URL?`)
  cachedToken = (await response.json()).token
  return cachedToken
}

// The service's stable code, from a REST refusal ({ code }) or a GraphQL one (extensions.reason).
async function codeOf (response) {
  const body = await response.clone().json().catch(() => undefined)
  return body?.code ?? body?.errors?.[0]?.extensions?.reason ?? body?.errors?.[0]?.extensions?.code
}

// One call with the token; a 401 token_expired gets a fresh token and one retry, as Clerk's SDKs do.
async function callWithToken (path, init = {}) {
  const send = async (skipCache) => await fetch(`${api}${path}`, {
    ...init,
    headers: { ...init.headers, authorization: `Bearer ${await getToken({ skipCache })}` }
  })
  const first = await send(false)
  if (first.status !== 401 || await codeOf(first) !== 'token_expired') return { response: first, retried: false }
  return { response: await send(true), retried: true }
}

// What the page could read of the answer: the text, or the refusal code and challenge.
async function describe (response, retried) {
  const note = retried ? ' (after token_expired: fetched a fresh token and retried)' : ''
  if (response.ok) {
    const type = response.headers.get('content-type') ?? ''
    const body = type.includes('json') ? JSON.stringify(await response.json()) : await response.text()
    return { text: `${response.status} ${body}${note}`, kind: 'ok' }
  }
  const challenge = response.headers.get('www-authenticate')
  const retryAfter = response.headers.get('retry-after')
  const extra = [challenge && `WWW-Authenticate: ${challenge}`, retryAfter && `Retry-After: ${retryAfter}`].filter(Boolean).join('; ')
  return { text: `${response.status} ${await codeOf(response)}${extra === '' ? '' : ` (${extra})`}${note}`, kind: 'refused' }
}

function show (id, action) {
  const button = document.getElementById(id)
  const output = document.getElementById(`${id}-result`)
  button.addEventListener('click', async () => {
    output.className = ''
    output.textContent = '…'
    try {
      const { text, kind } = await action()
      output.textContent = text
      output.className = kind
    } catch (error) {
      // fetch rejects without a status when the browser withholds the answer: CORS said no.
      output.textContent = `blocked: ${error.message} (the service is down, or does not allow this origin)`
      output.className = 'blocked'
    }
  })
}

show('rest', async () => {
  const { response, retried } = await callWithToken('/rest-endpoints/42')
  return await describe(response, retried)
})

show('graphql', async () => {
  const { response, retried } = await callWithToken('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'query Ping($id: String!) { pingOne(id: $id) }', variables: { id: '42' } })
  })
  return await describe(response, retried)
})

show('no-token', async () => await describe(await fetch(`${api}/rest-endpoints/42`), false))

show('greeting', async () => await describe(await fetch(`${api}/greeting`), false))

// Same-site pages can use the __session cookie instead of the header: the request must say
// credentials: 'include', and the service must answer with Access-Control-Allow-Credentials.
show('cookie', async () => {
  document.cookie = `__session=${await getToken()}; path=/; SameSite=Lax`
  try {
    return await describe(await fetch(`${api}/rest-endpoints/7`, { credentials: 'include' }), false)
  } finally {
    document.cookie = '__session=; path=/; max-age=0'
  }
})
