// What one GraphQL request may make the server do, checked before validation (whose cost grows
// faster than the query: overlapping-field checks are quadratic in the aliases). Pure functions.
import { Kind, Location, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql'
import { fragmentsByName } from './fragments.js'

export interface QueryLimits {
  /** Largest POST body. GET queries are bounded by Node's header size (16 KiB). */
  bodyBytes: number
  /** Lexical tokens the parser reads before giving up. */
  tokens: number
  /** Field selections, aliases counted and fragments expanded, over the whole document. */
  fields: number
  /** Deepest nesting of fields. */
  depth: number
}

// GraphiQL's full introspection query has 183 tokens, 229 fields once its fragments are expanded,
// and depth 15: these leave room for it, and for any real query of this API, several times over.
export const queryLimits: Readonly<QueryLimits> = Object.freeze({ bodyBytes: 64 * 1024, tokens: 2000, fields: 500, depth: 20 })

export interface QueryProblem {
  /** GRAPHQL_PARSE_FAILED or QUERY_TOO_COMPLEX, as extensions.code. */
  code: 'GRAPHQL_PARSE_FAILED' | 'QUERY_TOO_COMPLEX'
  message: string
}

interface Cost { fields: number, depth: number }
const NOTHING: Cost = { fields: 0, depth: 0 }

class Measure {
  readonly #fragments: ReadonlyMap<string, FragmentDefinitionNode>
  readonly #costs = new Map<string, Cost>()
  readonly #visiting = new Set<string>()

  constructor (document: DocumentNode) {
    this.#fragments = fragmentsByName(document)
  }

  /** Each fragment is measured once, however often it is spread: a chain of doubling spreads costs nothing extra. */
  fragment (name: string): Cost {
    const known = this.#costs.get(name)
    if (known !== undefined) return known
    const fragment = this.#fragments.get(name)
    // Unknown or cyclic spreads are for validation to refuse; they add nothing here.
    if (fragment === undefined || this.#visiting.has(name)) return NOTHING
    this.#visiting.add(name)
    const cost = this.selections(fragment.selectionSet)
    this.#visiting.delete(name)
    this.#costs.set(name, cost)
    return cost
  }

  selections (selectionSet: SelectionSetNode): Cost {
    let fields = 0
    let depth = 0
    for (const selection of selectionSet.selections) {
      let cost: Cost
      if (selection.kind === Kind.FIELD) {
        const below = selection.selectionSet === undefined ? NOTHING : this.selections(selection.selectionSet)
        cost = { fields: below.fields + 1, depth: below.depth + 1 }
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        cost = this.selections(selection.selectionSet)
      } else {
        cost = this.fragment(selection.name.value)
      }
      fields += cost.fields
      depth = Math.max(depth, cost.depth)
    }
    return { fields, depth }
  }
}

/**
 * Why a parsed document may not run, or undefined. Only documents from GraphQL's own parser pass:
 * Mercurius also takes a query that is a JSON syntax tree, whose nodes need not have the fields the
 * grammar promises.
 */
export function queryProblem (document: DocumentNode, limits: QueryLimits): QueryProblem | undefined {
  if (!(document.loc instanceof Location)) {
    return { code: 'GRAPHQL_PARSE_FAILED', message: 'The query must be GraphQL source text.' }
  }
  const measure = new Measure(document)
  let fields = 0
  let depth = 0
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue
    const cost = measure.selections(definition.selectionSet)
    fields += cost.fields
    depth = Math.max(depth, cost.depth)
  }
  if (fields > limits.fields) {
    return { code: 'QUERY_TOO_COMPLEX', message: `The query selects more than ${limits.fields} fields (aliases counted, fragments expanded).` }
  }
  if (depth > limits.depth) {
    return { code: 'QUERY_TOO_COMPLEX', message: `The query nests fields more than ${limits.depth} levels deep.` }
  }
  return undefined
}
