import { GraphQLError, Kind, type ASTVisitor, type GraphQLObjectType, type SelectionSetNode, type ValidationContext } from 'graphql';
import { policyOf } from './field-policy.ts';

// At most one sensitive auth field (declared so by its own `fieldPolicy`) per operation: aliases
// (`a: login … b: login …`) would otherwise let one request try many passwords or tokens, and batch
// mail sends. Each fragment is counted once per document and its count reused at every spread, and
// counting stops at two, so the rule is linear in the document however often fragments spread each other.

/** Counting stops here: one more than allowed is enough to refuse. */
const ENOUGH = 2;

export function oneSensitiveFieldRule(context: ValidationContext): ASTVisitor {
  const schema = context.getSchema();
  let root: GraphQLObjectType | null | undefined;
  const sensitive = (name: string) => policyOf(root?.getFields()[name]).sensitive === true;
  /**
   * Per root type (mutation, subscription), per fragment name: counted once per document however
   * many operations spread it; `null` while the fragment is being counted (a cycle counts nothing).
   */
  const countsByRoot = new Map<string, Map<string, number | null>>();
  let fragmentCounts = new Map<string, number | null>();

  const countFragment = (name: string): number => {
    if (fragmentCounts.has(name)) return fragmentCounts.get(name) ?? 0;
    const fragment = context.getFragment(name);
    if (!fragment) return 0;
    fragmentCounts.set(name, null);
    const n = count(fragment.selectionSet);
    fragmentCounts.set(name, n);
    return n;
  };

  const count = (set: SelectionSetNode): number => {
    let n = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) n += sensitive(selection.name.value) ? 1 : 0;
      else if (selection.kind === Kind.INLINE_FRAGMENT) n += count(selection.selectionSet);
      else n += countFragment(selection.name.value);
      if (n >= ENOUGH) return ENOUGH;
    }
    return n;
  };

  return {
    OperationDefinition(operation) {
      if (operation.operation === 'query') return;
      root = operation.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
      const key = root?.name ?? '';
      if (!countsByRoot.has(key)) countsByRoot.set(key, new Map());
      fragmentCounts = countsByRoot.get(key)!;
      if (count(operation.selectionSet) > 1) {
        context.reportError(
          new GraphQLError('At most one sign-in, registration, token or mail operation per request', {
            nodes: [operation],
            extensions: { code: 'BAD_USER_INPUT' },
          }),
        );
      }
    },
  };
}
