import t from 'tap'
import { MAX_TOKEN_LENGTH, findToken } from '../plugins/clerk-auth/token-source.js'

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln'
const noCookie = (): undefined => undefined

t.test('findToken', async (t) => {
  t.same(findToken(`Bearer ${TOKEN}`, noCookie), { token: TOKEN })
  t.same(findToken(`bearer   ${TOKEN}  `, noCookie), { token: TOKEN }, 'extra spaces are tolerated')
  t.same(findToken(`Bearer\t${TOKEN}`, noCookie), { token: TOKEN })
  t.same(findToken(undefined, () => TOKEN), { token: TOKEN })
  t.same(findToken(undefined, noCookie), { refusal: 'token_missing' })
  t.same(findToken('Bearer', () => TOKEN), { refusal: 'token_missing' }, 'a header without a token does not fall back to the cookie')
  t.same(findToken(`Token ${TOKEN}`, () => TOKEN), { refusal: 'token_scheme_invalid' }, 'another scheme is refused even with a cookie')
  t.same(findToken(`Bearer${TOKEN}`, noCookie), { refusal: 'token_scheme_invalid' })
  t.same(findToken(`Bearer ${TOKEN} extra`, noCookie), { refusal: 'token_malformed' })
  t.same(findToken(`Bearer ${TOKEN}.more`, noCookie), { refusal: 'token_malformed' })
  t.same(findToken('Bearer a.b.c', noCookie), { token: 'a.b.c' }, 'shape only: decoding decides the rest')
  t.same(findToken(`Bearer a.${'b'.repeat(MAX_TOKEN_LENGTH)}.c`, noCookie), { refusal: 'token_malformed' })
})
