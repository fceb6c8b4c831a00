import { Kind, OperationTypeNode, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql'
import { fragmentsByName } from './fragments.js'

export const INTROSPECTION_FIELDS: ReadonlySet<string> = new Set(['__schema', '__type', '__typename'])
const NONE: ReadonlySet<string> = new Set()

function selectsOnly (
  selectionSet: SelectionSetNode,
  allowed: ReadonlySet<string>,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  seen: Set<string>
): boolean {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (!allowed.has(selection.name.value)) return false
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      if (!selectsOnly(selection.selectionSet, allowed, fragments, seen)) return false
    } else {
      const name = selection.name.value
      if (seen.has(name)) continue
      seen.add(name)
      const fragment = fragments.get(name)
      if (fragment === undefined || !selectsOnly(fragment.selectionSet, allowed, fragments, seen)) return false
    }
  }
  return true
}

/**
 * True when every operation in the document selects at its root (through fragments too) nothing but
 * the fields allowed for its kind: queryFields for queries, otherwiseFields for mutations and subscriptions.
 */
export function rootSelectsOnly (document: DocumentNode, queryFields: ReadonlySet<string>, otherwiseFields: ReadonlySet<string> = NONE): boolean {
  const fragments = fragmentsByName(document)
  let operations = 0
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue
    operations++
    const allowed = definition.operation === OperationTypeNode.QUERY ? queryFields : otherwiseFields
    if (!selectsOnly(definition.selectionSet, allowed, fragments, new Set())) return false
  }
  return operations > 0
}

/**
 * True when every operation in the document selects nothing but __schema, __type or __typename
 * at its root (through fragments too): GraphiQL may load the schema without a token.
 */
export function isIntrospectionOnly (document: DocumentNode): boolean {
  return rootSelectsOnly(document, INTROSPECTION_FIELDS, INTROSPECTION_FIELDS)
}
