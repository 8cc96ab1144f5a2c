import { GraphQLError, Kind, type ASTVisitor, type FieldNode, type OperationDefinitionNode, type SelectionSetNode, type ValidationContext } from 'graphql';

// Validation rules that refuse expensive documents before anything executes: depth, aliases and
// cost, each computed per operation through its fragments. The work is linear in the document:
// each fragment is measured once per document and its measure reused at every spread (a fragment
// spreading the previous one twice, 95 times over, would otherwise mean 2^95 visits), and the
// walk stops at the first selection set that is already over a limit. A fragment cycle is
// reported by GraphQL's own rules; here a spread of a fragment still being measured counts
// nothing. Introspection fields are not counted, so GraphiQL keeps working where introspection
// is allowed.

export interface DocumentLimits {
  maxDepth: number;
  maxAliases: number;
  maxCost: number;
}

export const defaultDocumentLimits: DocumentLimits = { maxDepth: 10, maxAliases: 15, maxCost: 5000 };

interface Measure {
  depth: number;
  aliases: number;
  cost: number;
}

type Metric = keyof Measure;

/** Set when a selection set inside the operation is already over a limit: its measure is a lower bound. */
class OverLimit {
  readonly metric: Metric;
  readonly value: number;
  constructor(metric: Metric, value: number) {
    this.metric = metric;
    this.value = value;
  }
}

/** Sums stay exact up to here, and stop growing past it (a product of list sizes can overflow). */
const SATURATED = Number.MAX_SAFE_INTEGER;
const add = (a: number, b: number) => Math.min(a + b, SATURATED);
const multiply = (a: number, b: number) => (a > SATURATED / b ? SATURATED : a * b);

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

/** Measures selection sets, remembering each fragment's measure for the whole document. */
function createDocumentMeasurer(limits: DocumentLimits, fragmentNamed: ValidationContext['getFragment']) {
  const fragments = new Map<string, Measure | OverLimit | 'measuring'>();

  const overLimit = (m: Measure): OverLimit | null => {
    if (m.depth > limits.maxDepth) return new OverLimit('depth', m.depth);
    if (m.aliases > limits.maxAliases) return new OverLimit('aliases', m.aliases);
    if (m.cost > limits.maxCost) return new OverLimit('cost', m.cost);
    return null;
  };

  const measureFragment = (name: string): Measure | OverLimit => {
    const known = fragments.get(name);
    if (known === 'measuring') return { depth: 0, aliases: 0, cost: 0 }; // a cycle
    if (known) return known;
    const fragment = fragmentNamed(name);
    if (!fragment) return { depth: 0, aliases: 0, cost: 0 };
    fragments.set(name, 'measuring');
    const measured = measureSet(fragment.selectionSet, false, 0);
    fragments.set(name, measured);
    return measured;
  };

  /**
   * The measure of a selection set, or the first limit that one of its parts (or itself, unless
   * it is the operation's own set) passes: whatever contains a set measures at least as much.
   * `level` counts the fields above the set, so a deep document is not walked to its bottom.
   */
  const measureSet = (set: SelectionSetNode, isOperation: boolean, level: number): Measure | OverLimit => {
    if (level > limits.maxDepth) return new OverLimit('depth', level);
    const total: Measure = { depth: 0, aliases: 0, cost: 0 };
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value.startsWith('__')) continue;
        let child: Measure = { depth: 0, aliases: 0, cost: 0 };
        if (selection.selectionSet) {
          const measured = measureSet(selection.selectionSet, false, level + 1);
          if (measured instanceof OverLimit) return measured;
          child = measured;
        }
        total.depth = Math.max(total.depth, child.depth + 1);
        total.aliases = add(total.aliases, add(child.aliases, selection.alias ? 1 : 0));
        total.cost = add(total.cost, multiply(add(child.cost, 1), listSize(selection)));
      } else {
        // Fragments add no depth of their own.
        const child = selection.kind === Kind.INLINE_FRAGMENT ? measureSet(selection.selectionSet, false, level) : measureFragment(selection.name.value);
        if (child instanceof OverLimit) return child;
        total.depth = Math.max(total.depth, child.depth);
        total.aliases = add(total.aliases, child.aliases);
        total.cost = add(total.cost, child.cost);
      }
    }
    return (!isOperation && overLimit(total)) || total;
  };

  /**
   * The limits an operation passes, each with its figure; `exact` is false when the walk stopped
   * inside the operation, and the figure is then what was counted so far (a lower bound).
   */
  return (operation: OperationDefinitionNode): Array<{ metric: Metric; value: number; exact: boolean }> => {
    const measured = measureSet(operation.selectionSet, true, 0);
    if (measured instanceof OverLimit) return [{ metric: measured.metric, value: measured.value, exact: false }];
    const over: Metric[] = [];
    if (measured.depth > limits.maxDepth) over.push('depth');
    if (measured.aliases > limits.maxAliases) over.push('aliases');
    if (measured.cost > limits.maxCost) over.push('cost');
    return over.map((metric) => ({ metric, value: measured[metric], exact: true }));
  };
}

export function documentLimitsRule(limits: DocumentLimits) {
  return (context: ValidationContext): ASTVisitor => {
    const measure = createDocumentMeasurer(limits, (name) => context.getFragment(name));
    return {
      OperationDefinition(operation) {
        for (const { metric, value, exact } of measure(operation)) {
          const figure = exact ? `${value}` : `at least ${value}`;
          const messages: Record<Metric, string> = {
            depth: `Query is nested too deeply (${figure}; at most ${limits.maxDepth})`,
            aliases: `Too many aliases (${figure}; at most ${limits.maxAliases})`,
            cost: `Query is too expensive (cost ${figure}; at most ${limits.maxCost})`,
          };
          context.reportError(new GraphQLError(messages[metric], { nodes: [operation], extensions: { code: 'BAD_USER_INPUT' } }));
        }
      },
    };
  };
}
