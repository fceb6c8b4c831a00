import { Kind, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql'
import { fragmentsByName } from './fragments.js'

const INTROSPECTION_FIELDS = new Set(['__schema', '__type', '__typename'])

function selectsOnlyIntrospection (
  selectionSet: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  seen: Set<string>
): boolean {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (!INTROSPECTION_FIELDS.has(selection.name.value)) return false
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      if (!selectsOnlyIntrospection(selection.selectionSet, fragments, seen)) return false
    } else {
      const name = selection.name.value
      if (seen.has(name)) continue
      seen.add(name)
      const fragment = fragments.get(name)
      if (fragment === undefined || !selectsOnlyIntrospection(fragment.selectionSet, fragments, seen)) return false
    }
  }
  return true
}

/**
 * True when every operation in the document selects nothing but __schema, __type or __typename
 * at its root (through fragments too): GraphiQL may load the schema without a token.
 */
export function isIntrospectionOnly (document: DocumentNode): boolean {
  const fragments = fragmentsByName(document)
  let operations = 0
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue
    operations++
    if (!selectsOnlyIntrospection(definition.selectionSet, fragments, new Set())) return false
  }
  return operations > 0
}
