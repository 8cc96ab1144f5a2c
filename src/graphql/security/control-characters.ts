import {
  GraphQLError,
  Kind,
  TypeInfo,
  getNamedType,
  getOperationAST,
  isInputObjectType,
  isListType,
  isNonNullType,
  typeFromAST,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLInputObjectType,
  type GraphQLInputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';

// Every text argument is refused with BAD_USER_INPUT when it holds a control character (C0, DEL,
// C1) or a lone UTF-16 surrogate, before any resolver runs (so before any hash or write): a NUL
// byte in a name used to reach PostgreSQL, after an argon2 hash was spent, as a 500. Tab and
// newline are let through only where a multi-line text makes sense. Both the variables and the
// string literals of the document are checked, each in one linear pass, on every transport
// (HTTP, SSE and WebSocket operations all run through yoga's envelop).

/** Arguments and input fields (schema coordinates) that hold multi-line text. Passwords never do. */
const multiLineTexts: ReadonlySet<string> = new Set(['Mutation.adminLockUser(reason:)']);

type TextProblem = 'control character' | 'lone surrogate';

/** What is wrong with `text`, if anything; `multiLine` lets tab and newline through. */
export function textProblem(text: string, multiLine: boolean): TextProblem | null {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20) {
      if (multiLine && (c === 0x09 || c === 0x0a)) continue;
      return 'control character';
    }
    if (c >= 0x7f && c <= 0x9f) return 'control character';
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = text.charCodeAt(i + 1);
      if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return 'lone surrogate';
      i++;
    }
  }
  return null;
}

interface Finding {
  problem: TextProblem;
  /** Where, in names the schema or the document gives: `$input.name`, `RegisterInput.name`. */
  where: string;
}

interface DocumentCheck {
  literal: Finding | null;
  /** Per variable: whether every place it is used takes multi-line text. */
  multiLineVariables: Map<string, boolean>;
  /** String literals given as a variable's default value, checked once that variable is known. */
  defaults: Array<{ variable: string; text: string }>;
}

/** One pass over the document: its string literals, and where each variable is used. */
function checkDocument(schema: GraphQLSchema, document: DocumentNode): DocumentCheck {
  const typeInfo = new TypeInfo(schema);
  const positions: string[] = [];
  const check: DocumentCheck = { literal: null, multiLineVariables: new Map(), defaults: [] };
  const position = () => positions[positions.length - 1];
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Argument: {
        enter(node) {
          const directive = typeInfo.getDirective();
          const field = typeInfo.getFieldDef();
          const parent = typeInfo.getParentType();
          if (directive) positions.push(`@${directive.name}(${node.name.value}:)`);
          else positions.push(field && parent ? `${parent.name}.${field.name}(${node.name.value}:)` : '');
        },
        leave: () => void positions.pop(),
      },
      ObjectField: {
        enter(node) {
          const parent = typeInfo.getParentInputType();
          positions.push(parent ? `${getNamedType(parent).name}.${node.name.value}` : '');
        },
        leave: () => void positions.pop(),
      },
      VariableDefinition: {
        enter: (node) => void positions.push(`$${node.variable.name.value}`),
        leave: () => void positions.pop(),
      },
      Variable(node, _key, parent) {
        if ((parent as { kind?: string } | undefined)?.kind === Kind.VARIABLE_DEFINITION) return;
        const name = node.name.value;
        const usedWhere = position() ?? '';
        check.multiLineVariables.set(name, (check.multiLineVariables.get(name) ?? true) && multiLineTexts.has(usedWhere));
      },
      StringValue(node) {
        const where = position();
        if (where === undefined || check.literal) return; // a description, or already refused
        if (where.startsWith('$')) {
          check.defaults.push({ variable: where.slice(1), text: node.value });
          return;
        }
        const problem = textProblem(node.value, multiLineTexts.has(where));
        if (problem) check.literal = { problem, where };
      },
    }),
  );
  return check;
}

interface Pending {
  value: unknown;
  type: GraphQLInputType | undefined;
  multiLine: boolean;
  parent: Pending | null;
  /** A field name the type defines, a list index, or null under a key it does not define (never quoted back). */
  label: string | number | null;
}

const MAX_LABELS = 16;

function pathOf(pending: Pending): string {
  const labels: Array<string | number | null> = [];
  for (let p: Pending | null = pending; p; p = p.parent) labels.push(p.label);
  if (labels.length > MAX_LABELS) return String(labels[labels.length - 1]);
  const shown = labels.reverse().map((label) => (typeof label === 'number' ? `[${label}]` : label === null ? '' : label));
  return (
    shown[0] +
    shown
      .slice(1)
      .map((label) => (label && !label.startsWith('[') ? `.${label}` : label))
      .join('')
  );
}

/** Walks every variable's value once, without recursion (a JSON body may nest deeply). */
function checkVariables(schema: GraphQLSchema, operation: OperationDefinitionNode, variables: Record<string, unknown>, check: DocumentCheck): Finding | null {
  const stack: Pending[] = [];
  for (const definition of operation.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    if (!Object.hasOwn(variables, name)) continue;
    const type = typeFromAST(schema, definition.type) as GraphQLInputType | undefined;
    stack.push({ value: variables[name], type, multiLine: check.multiLineVariables.get(name) === true, parent: null, label: `$${name}` });
  }
  for (let pending = stack.pop(); pending; pending = stack.pop()) {
    const { value, multiLine } = pending;
    const type = pending.type && isNonNullType(pending.type) ? pending.type.ofType : pending.type;
    if (typeof value === 'string') {
      const problem = textProblem(value, multiLine);
      if (problem) return { problem, where: pathOf(pending) };
    } else if (Array.isArray(value)) {
      const item = type && isListType(type) ? (type.ofType as GraphQLInputType) : type;
      for (let i = 0; i < value.length; i++) {
        const element: unknown = value[i];
        // Strings, the common case, are checked here rather than queued.
        if (typeof element === 'string' && !textProblem(element, multiLine)) continue;
        if (element !== null && typeof element === 'object') stack.push({ value: element, type: item, multiLine, parent: pending, label: i });
        else if (typeof element === 'string') stack.push({ value: element, type: item, multiLine, parent: pending, label: i });
      }
    } else if (value && typeof value === 'object') {
      const fields = isInputObjectType(type) ? type.getFields() : undefined;
      for (const key of Object.keys(value)) {
        const field = fields && Object.hasOwn(fields, key) ? fields[key] : undefined;
        stack.push({
          value: (value as Record<string, unknown>)[key],
          type: field?.type,
          multiLine: field ? multiLineTexts.has(`${(type as GraphQLInputObjectType).name}.${key}`) : false,
          parent: pending,
          label: field ? key : null,
        });
      }
    }
  }
  return null;
}

/** The first text of the operation (its variables or the document's literals) that is refused. */
export function findRefusedText(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
  documentChecks?: WeakMap<DocumentNode, DocumentCheck>,
): Finding | null {
  let check = documentChecks?.get(document);
  if (!check) {
    check = checkDocument(schema, document);
    documentChecks?.set(document, check);
  }
  if (check.literal) return check.literal;
  for (const { variable, text } of check.defaults) {
    const problem = textProblem(text, check.multiLineVariables.get(variable) === true);
    if (problem) return { problem, where: `$${variable}` };
  }
  const operation = getOperationAST(document, operationName);
  if (!operation || !variables || typeof variables !== 'object' || Array.isArray(variables)) return null;
  return checkVariables(schema, operation, variables, check);
}

function refusedTextError({ problem, where }: Finding): GraphQLError {
  return new GraphQLError(`Text must not hold a ${problem} (${where})`, {
    extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } },
  });
}

/** Refuses, before execution, an operation whose text arguments hold a control character. */
export function useControlCharacterRefusal(): Plugin {
  // yoga reuses the parsed document of a query it has seen, so its literals are checked once.
  const documentChecks = new WeakMap<DocumentNode, DocumentCheck>();
  const refuse = ({
    args,
    setResultAndStopExecution,
  }: {
    args: { schema: GraphQLSchema; document: DocumentNode; operationName?: string | null; variableValues?: unknown };
    setResultAndStopExecution: (result: { errors: GraphQLError[] }) => void;
  }) => {
    const variables = args.variableValues as Record<string, unknown> | null | undefined;
    const found = findRefusedText(args.schema, args.document, args.operationName, variables, documentChecks);
    if (found) setResultAndStopExecution({ errors: [refusedTextError(found)] });
  };
  return { onExecute: refuse, onSubscribe: refuse };
}
