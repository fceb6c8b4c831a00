// Whose budget a call to Clerk's Backend API comes out of: the client's address, an IPv6 address by
// its /64, since one host is commonly handed a whole /64 and could otherwise take a fresh budget per address.

/**
 * Who sends a request, read only when a call to Clerk must be budgeted: a Fastify request is one (its
 * ip getter, which may parse X-Forwarded-For, then runs for new opaque tokens alone).
 */
export interface Client {
  readonly ip?: string
}

const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i

/** The budget key for a client address (request.ip); 'unknown' when there is none. */
export function clientKey (address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown'
  if (!address.includes(':')) return address
  const mapped = IPV4_MAPPED.exec(address)
  if (mapped !== null) return mapped[1] as string
  // a zone (%eth0) is local detail; '::' stands for the zero groups it leaves out
  const [head = '', tail] = address.split('%')[0]?.toLowerCase().split('::') ?? []
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, '')).join(':')}::/64`
}
