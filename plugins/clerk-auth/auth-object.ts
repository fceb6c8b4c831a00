/** Who is calling, as a verified Clerk session token says. */
export interface ClerkAuth {
  userId: string
  sessionId: string
  claims: Readonly<Record<string, unknown>>
}

/** Claims have passed checkClaims, so sub and sid are non-empty strings. */
export function authFromClaims (claims: Record<string, unknown>): ClerkAuth {
  return { userId: claims.sub as string, sessionId: claims.sid as string, claims }
}
