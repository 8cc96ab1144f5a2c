import {
  GraphQLError, Kind, type ASTVisitor, type FieldNode, type FragmentDefinitionNode, type OperationDefinitionNode,
  type SelectionSetNode, type ValidationContext,
} from 'graphql';

// Validation rules that refuse expensive documents before anything executes: depth, aliases and
// cost, each computed per operation through its fragments (a fragment cycle is reported by
// GraphQL's own rules; the walk here just stops on it). Introspection fields are not counted, so
// GraphiQL keeps working where introspection is allowed.

export interface DocumentLimits {
  maxDepth: number;
  maxAliases: number;
  maxCost: number;
}

export const defaultDocumentLimits: DocumentLimits = { maxDepth: 10, maxAliases: 15, maxCost: 5000 };

interface Walk {
  depth: number;
  aliases: number;
  cost: number;
}

function walkOperation(operation: OperationDefinitionNode, fragments: (name: string) => FragmentDefinitionNode | null | undefined): Walk {
  let aliases = 0;
  const visit = (set: SelectionSetNode, seen: Set<string>): { depth: number; cost: number } => {
    let depth = 0;
    let cost = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value.startsWith('__')) continue;
        if (selection.alias) aliases++;
        const child = selection.selectionSet ? visit(selection.selectionSet, seen) : { depth: 0, cost: 0 };
        depth = Math.max(depth, child.depth + 1);
        cost += listSize(selection) * (1 + child.cost);
      } else {
        const target = selection.kind === Kind.INLINE_FRAGMENT ? selection : fragments(selection.name.value);
        if (!target) continue;
        const key = selection.kind === Kind.FRAGMENT_SPREAD ? selection.name.value : '';
        if (key && seen.has(key)) continue;
        const child = visit(target.selectionSet, key ? new Set([...seen, key]) : seen);
        depth = Math.max(depth, child.depth);
        cost += child.cost;
      }
    }
    return { depth, cost };
  };
  const { depth, cost } = visit(operation.selectionSet, new Set());
  return { depth, aliases, cost };
}

/** The largest page a connection serves (API.md: `first` at most 100). */
const MAX_PAGE_SIZE = 100;

/**
 * A `first`/`last` argument multiplies the cost of what is below it. A variable is not known at
 * validation, so it counts as the largest page: else `first: $n` would make any nesting cheap.
 */
function listSize(field: FieldNode): number {
  for (const arg of field.arguments ?? []) {
    if (arg.name.value !== 'first' && arg.name.value !== 'last') continue;
    if (arg.value.kind === Kind.INT) return Math.max(1, Math.min(Number(arg.value.value), 1000));
    if (arg.value.kind === Kind.VARIABLE) return MAX_PAGE_SIZE;
  }
  return 1;
}

export function documentLimitsRule(limits: DocumentLimits) {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(operation) {
      const walk = walkOperation(operation, (name) => context.getFragment(name));
      const refuse = (message: string) =>
        context.reportError(new GraphQLError(message, { nodes: [operation], extensions: { code: 'BAD_USER_INPUT' } }));
      if (walk.depth > limits.maxDepth) refuse(`Query is nested too deeply (${walk.depth}; at most ${limits.maxDepth})`);
      if (walk.aliases > limits.maxAliases) refuse(`Too many aliases (${walk.aliases}; at most ${limits.maxAliases})`);
      if (walk.cost > limits.maxCost) refuse(`Query is too expensive (cost ${walk.cost}; at most ${limits.maxCost})`);
    },
  });
}
