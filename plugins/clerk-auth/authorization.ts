import type { AuthRequirement } from './auth-object.js'
import type { TokenType } from './token-types.js'

/** What a route (its config) or a gateway (its parameters) asks of a caller: sessions only and no requirement by default. */
export interface Access {
  auth?: AuthRequirement
  acceptsToken?: readonly TokenType[]
  /** A request without a token goes on with no caller; a token that is sent must still be valid. */
  optionalAuth?: boolean
}

const KEYS = new Set(['role', 'permission', 'feature', 'plan', 'reverification', 'scope'])
const PRESETS = new Set(['strict_mfa', 'strict', 'moderate', 'lax'])
const LEVELS = new Set(['first_factor', 'second_factor', 'multi_factor'])

/** Why a declared requirement is unusable, or undefined; checked when a route or field is declared, not per request. */
export function requirementProblem (requirement: unknown): string | undefined {
  if (requirement === null || typeof requirement !== 'object' || Array.isArray(requirement)) return 'must be an object'
  const entries = Object.entries(requirement)
  if (entries.length === 0) return `must ask for at least one of ${[...KEYS].join(', ')}`
  for (const [key, value] of entries) {
    if (!KEYS.has(key)) return `has an unknown key "${key}"`
    if (key === 'reverification') {
      const ok = typeof value === 'string'
        ? PRESETS.has(value)
        : value !== null && typeof value === 'object' && LEVELS.has((value as { level?: string }).level ?? '') &&
          Number.isFinite((value as { afterMinutes?: number }).afterMinutes) && ((value as { afterMinutes: number }).afterMinutes > 0)
      if (!ok) return 'has an invalid reverification (a preset, or { level, afterMinutes })'
    } else if (typeof value !== 'string' || value === '') {
      return `needs a non-empty string for "${key}"`
    }
  }
  return undefined
}

/** Names what is missing, from the requirement itself: never from the caller's claims. */
export function forbiddenMessage (requirement: AuthRequirement, unmet: ReadonlyArray<keyof AuthRequirement>): string {
  const parts = unmet.map((key) => {
    const value = requirement[key]
    return `${key} ${typeof value === 'string' ? value : JSON.stringify(value)}`
  })
  return `This needs ${parts.join(' and ')}.`
}

/** The part of the requirement the caller lacks. */
export function missingPart (requirement: AuthRequirement, unmet: ReadonlyArray<keyof AuthRequirement>): AuthRequirement {
  return Object.fromEntries(unmet.map((key) => [key, requirement[key]]))
}
