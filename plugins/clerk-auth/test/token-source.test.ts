import t from 'tap'
import { MAX_TOKEN_LENGTH, findToken, isWellFormed } from '../token-source.js'

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln'
const noCookie = undefined
const readCookie = (header: string): string | undefined => /__session=([^;]*)/.exec(header)?.[1]

t.test('findToken', async (t) => {
  t.same(findToken(`Bearer ${TOKEN}`, noCookie, readCookie), { token: TOKEN, fromCookie: false })
  t.same(findToken(`bearer   ${TOKEN}  `, noCookie, readCookie), { token: TOKEN, fromCookie: false }, 'extra spaces are tolerated')
  t.same(findToken(`Bearer\t${TOKEN}`, noCookie, readCookie), { token: TOKEN, fromCookie: false })
  t.same(findToken(undefined, `__session=${TOKEN}`, readCookie), { token: TOKEN, fromCookie: true })
  t.same(findToken(undefined, noCookie, readCookie), { refusal: 'token_missing' })
  t.same(findToken(undefined, 'theme=dark', readCookie), { refusal: 'token_missing' }, 'cookies without __session')
  t.same(findToken('Bearer', `__session=${TOKEN}`, readCookie), { refusal: 'token_missing' }, 'a header without a token does not fall back to the cookie')
  t.same(findToken(`Token ${TOKEN}`, `__session=${TOKEN}`, readCookie), { refusal: 'token_scheme_invalid' }, 'another scheme is refused even with a cookie')
  t.same(findToken(`Bearer${TOKEN}`, noCookie, readCookie), { refusal: 'token_scheme_invalid' })
  t.same(findToken('Bearerx abc', noCookie, readCookie), { refusal: 'token_scheme_invalid' })
  t.same(findToken('Bear', noCookie, readCookie), { refusal: 'token_scheme_invalid' })
  t.same(findToken('Bearer   ', noCookie, readCookie), { refusal: 'token_missing' })
  for (const scheme of ['Digest', 'Basic1', 'Bearex', 'aearer', 'BEARE ']) {
    t.same(findToken(`${scheme} ${TOKEN}`, noCookie, readCookie), { refusal: 'token_scheme_invalid' }, `six letters and a blank: ${scheme}`)
  }
  t.same(findToken('', `__session=${TOKEN}`, readCookie), { token: TOKEN, fromCookie: true }, 'an empty header is no header')
})

t.test('isWellFormed', async (t) => {
  t.ok(isWellFormed(TOKEN))
  t.ok(isWellFormed('a.b.c'), 'shape only: decoding decides the rest')
  t.ok(isWellFormed('a.b.'), 'an empty signature, so that alg none is named later')
  t.notOk(isWellFormed(`${TOKEN} extra`))
  t.notOk(isWellFormed(`${TOKEN}.more`))
  t.notOk(isWellFormed('a$b.c.d'))
  t.notOk(isWellFormed(`a.${'b'.repeat(MAX_TOKEN_LENGTH)}.c`))
  const longest = `a.${'b'.repeat(MAX_TOKEN_LENGTH - 4)}.c`
  t.equal(longest.length, MAX_TOKEN_LENGTH)
  t.ok(isWellFormed(longest), 'exactly the limit')
  t.notOk(isWellFormed(`${longest}c`), 'one over')
})
