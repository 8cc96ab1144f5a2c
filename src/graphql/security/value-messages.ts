import {
  GraphQLError,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  Kind,
  typeFromAST,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';

// GraphQL's messages about a wrong input value quote the value: "Variable "$input" got invalid
// value { email: …, newPassword: "…" }; …", "String cannot represent a non string value: …", an
// unknown field's name of any length. Such a message is never cut down: it is rebuilt from safe
// parts only (fixed wording, the variable's name, names that exist in the schema, list indexes),
// whatever the exact wording of the graphql version. Every step is a plain forward scan, linear
// in the message.

interface ValueMessageOptions {
  schema: GraphQLSchema;
  hideSuggestions: boolean;
}

const NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

/** Reads `"…"` at `at` when what is between the quotes passes `accept`; null otherwise. */
function quotedAt(text: string, at: number, accept: (value: string) => boolean): { value: string; end: number } | null {
  if (text[at] !== '"') return null;
  const close = text.indexOf('"', at + 1);
  if (close < 0 || close - at > 256) return null;
  const value = text.slice(at + 1, close);
  return accept(value) ? { value, end: close + 1 } : null;
}

/** A type reference such as `[ID!]!` whose named type exists in the schema. */
const isSchemaTypeRef = (schema: GraphQLSchema) => (ref: string) => {
  const name = ref.replace(/[[\]!]/g, '');
  return NAME.test(name) && /^\[*[_0-9A-Za-z]+!?(\]!?)*$/.test(ref) && schema.getType(name) !== undefined;
};

/** The names a "Did you mean …?" after `from` offers, kept only when `allowed` knows them. */
function suggestions(text: string, from: number, allowed: (name: string) => boolean, options: ValueMessageOptions): string {
  if (options.hideSuggestions) return '';
  const start = text.indexOf('Did you mean', from);
  const end = start < 0 ? -1 : text.indexOf('?', start);
  const names: string[] = [];
  for (let at = end < 0 ? -1 : text.indexOf('"', start); at >= 0 && at < end && names.length < 5; ) {
    const close = text.indexOf('"', at + 1);
    if (close < 0 || close > end) break;
    const name = text.slice(at + 1, close);
    if (close - at <= 256 && NAME.test(name) && allowed(name) && !names.includes(name)) names.push(name);
    at = text.indexOf('"', close + 1);
  }
  return names.length ? ` Did you mean ${names.map((n) => `"${n}"`).join(' or ')}?` : '';
}

const fieldsOf = (schema: GraphQLSchema, typeRef: string) => {
  const type = schema.getType(typeRef.replace(/[[\]!]/g, ''));
  return (name: string) => isInputObjectType(type) && Object.hasOwn(type.getFields(), name);
};

/** Built-in scalar wordings: the text before the quoted value is fixed, the value follows a colon. */
const SCALAR_REASONS = [
  'Int cannot represent non 32-bit signed integer value',
  'Int cannot represent non-integer value',
  'Float cannot represent non numeric value',
  'String cannot represent a non string value',
  'Boolean cannot represent a non boolean value',
  'ID cannot represent a non-string and non-integer value',
  'ID cannot represent value',
];

/** `Name` when `inner` reads "<Name> cannot represent …" and Name is a scalar of the schema. */
function leafThatCannotRepresent(inner: string, schema: GraphQLSchema): string | null {
  const space = inner.indexOf(' cannot represent ');
  if (space < 1 || space > 256) return null;
  const name = inner.slice(0, space);
  return NAME.test(name) && isScalarType(schema.getType(name)) ? name : null;
}

/**
 * Why a value was refused, in GraphQL's words minus the value, or a generic reason naming the
 * expected type. `inner` is GraphQL's message about the value alone (no "Variable …" head).
 */
function valueReason(inner: string, expected: GraphQLInputType | undefined, options: ValueMessageOptions): string {
  const { schema } = options;
  const typeRef = isSchemaTypeRef(schema);
  const generic = expected ? `Expected value of type "${String(expected)}".` : 'Invalid value.';
  for (const head of ['Expected a value of non-null type ', 'Expected value of non-null type ']) {
    if (!inner.startsWith(head)) continue;
    const type = quotedAt(inner, head.length, typeRef);
    if (!type) return generic;
    const tail = head.startsWith('Expected a') ? 'to be provided.' : 'not to be null.';
    return `${head}"${type.value}" ${tail}`;
  }
  if (inner.startsWith('Expected value of type ')) {
    const type = quotedAt(inner, 'Expected value of type '.length, typeRef);
    if (!type) return generic;
    const head = `Expected value of type "${type.value}"`;
    const rest = inner.slice(type.end, type.end + 40);
    if (rest.startsWith(' to be an object')) return `${head} to be an object.`;
    if (rest.startsWith(' to include required field ')) {
      const field = quotedAt(inner, type.end + ' to include required field '.length, fieldsOf(schema, type.value));
      return field ? `${head} to include required field "${field.value}".` : `${head}.`;
    }
    if (rest.startsWith(' not to include unknown field')) {
      // The unknown field's name is the client's: never repeated.
      return `${head} not to include unknown field.${suggestions(inner, type.end, fieldsOf(schema, type.value), options)}`;
    }
    return `${head}.`;
  }
  if (inner.startsWith('Within OneOf Input Object type ')) {
    const type = quotedAt(inner, 'Within OneOf Input Object type '.length, typeRef);
    if (!type) return generic;
    return `Within OneOf Input Object type "${type.value}", exactly one field must be specified, and the value for that field must be non-null.`;
  }
  for (const reason of SCALAR_REASONS) {
    const next = inner[reason.length];
    if (inner.startsWith(reason) && (next === undefined || next === ':' || next === '.')) return `${reason}.`;
  }
  const leaf = leafThatCannotRepresent(inner, schema);
  if (leaf) return `${leaf} cannot represent this value.`;
  if (inner.startsWith('Enum ')) {
    const type = quotedAt(inner, 'Enum '.length, (name) => NAME.test(name) && isEnumType(schema.getType(name)));
    if (type && inner.startsWith(' cannot represent ', type.end)) return `Enum "${type.value}" cannot represent this value.`;
    return generic;
  }
  if (inner.startsWith('Value ')) {
    // `Value "<the client's text>" does not exist in "Role" enum.`: the enum's name is after the last marker.
    const marker = inner.lastIndexOf('does not exist in "');
    const enumType =
      marker < 0 ? undefined : quotedAt(inner, marker + 'does not exist in '.length, (name) => NAME.test(name) && isEnumType(schema.getType(name)));
    if (!enumType || !inner.startsWith(' enum.', enumType.end)) return generic;
    const values = schema.getType(enumType.value);
    const known = (name: string) => isEnumType(values) && values.getValue(name) !== undefined;
    return `Value does not exist in "${enumType.value}" enum.${suggestions(inner, enumType.end, known, options)}`;
  }
  return generic;
}

/** Walks `path` (".email[0].name") down from `type`; null when it is not a path of that type. */
function typeAtPath(type: GraphQLInputType, path: string): GraphQLInputType | null {
  let current = type;
  let at = 0;
  while (at < path.length) {
    const inner = isNonNullType(current) ? current.ofType : current;
    if (path[at] === '[') {
      const close = path.indexOf(']', at);
      if (close < 0 || !/^\d{1,9}$/.test(path.slice(at + 1, close)) || !isListType(inner)) return null;
      current = inner.ofType;
      at = close + 1;
    } else if (path[at] === '.') {
      let end = at + 1;
      while (end < path.length && path[end] !== '.' && path[end] !== '[') end++;
      const fields = isInputObjectType(inner) ? inner.getFields() : undefined;
      const name = path.slice(at + 1, end);
      if (!fields || !Object.hasOwn(fields, name)) return null;
      current = fields[name]!.type;
      at = end;
    } else return null;
  }
  return current;
}

const PATH_CHARS = /[_0-9A-Za-z.[\]]/;

/** Reads path characters from `at`; the path must then be followed by `end`. */
function pathAt(text: string, at: number, end: string): string | null {
  let stop = at;
  while (stop < text.length && stop - at <= 512 && PATH_CHARS.test(text[stop]!)) stop++;
  return text.startsWith(end, stop) ? text.slice(at, stop) : null;
}

/**
 * The message of an error produced by variable coercion, rebuilt: `Variable "$input" got invalid
 * value at "input.email"; String cannot represent a non string value.` Recognises graphql's and
 * graphql-tools' wordings; anything else about a variable gets a generic reason.
 */
function variableMessage(error: GraphQLError, options: ValueMessageOptions): string {
  const { message } = error;
  const definition = error.nodes?.[0]?.kind === Kind.VARIABLE_DEFINITION ? error.nodes[0] : undefined;
  const quotedName = quotedAt(message, 'Variable '.length, (name) => name.startsWith('$') && NAME.test(name.slice(1)));
  const name = definition?.variable.name.value ?? quotedName?.value.slice(1);
  if (!name || !quotedName) return 'A variable has an invalid value.';
  const declared = definition ? (typeFromAST(options.schema, definition.type) as GraphQLInputType | undefined) : undefined;
  const head = `Variable "$${name}"`;
  const rest = quotedName.end;
  for (const [wording, tail] of [
    [' of required type ', 'was not provided.'],
    [' of non-null type ', 'must not be null.'],
  ] as const) {
    if (message.startsWith(wording, rest)) return declared ? `${head}${wording}"${String(declared)}" ${tail}` : `${head} ${tail}`;
  }
  let path = '';
  let inner: string | undefined;
  if (message.startsWith(' has invalid value at ', rest) || message.startsWith(' has invalid default value at ', rest)) {
    const start = message.indexOf(' at ', rest) + 4; // graphql: `… has invalid value at .email: <reason>`
    path = pathAt(message, start, ': ') ?? '';
    if (path) inner = message.slice(start + path.length + 2);
  } else if (message.startsWith(' got invalid value', rest)) {
    // graphql-tools: `… got invalid value <the value> at "input.email"; <reason>` (the value may
    // hold anything, a forged path too: a path is only kept when it is one of the declared type).
    const marker = ` at "${name}`;
    for (let at = message.indexOf(marker, rest); at >= 0 && !path; at = message.indexOf(marker, at + 1)) {
      path = pathAt(message, at + marker.length, '"; ') ?? '';
      if (path) inner = message.slice(at + marker.length + path.length + 3);
    }
    inner ??= message.slice(message.indexOf('; ', rest) + 2);
  } else if (/^ has invalid (default )?value: /.test(message.slice(rest, rest + 32))) {
    inner = message.slice(message.indexOf(': ', rest) + 2);
  } else {
    return `${head} has an invalid value.`;
  }
  const expected = declared && path ? typeAtPath(declared, path) : declared;
  if (declared && path && !expected) path = '';
  // The reason in GraphQL's words comes from the error that coercion wrapped, when it is there.
  const wrapped = error.originalError instanceof GraphQLError ? error.originalError.message : undefined;
  inner = wrapped ?? inner ?? '';
  const where = path ? ` at "${name}${path}"` : '';
  return `${head} got invalid value${where}; ${valueReason(inner, expected ?? undefined, options)}`;
}

/** Messages that describe a literal value written in the document (validation of arguments). */
const VALUE_MESSAGE_HEADS = [
  'Expected a value of non-null type ',
  'Expected value of ',
  'Within OneOf Input Object type ',
  'Enum "',
  'Value "',
  ...SCALAR_REASONS,
];

/**
 * The message `error` may show: GraphQL's own unless it is about an input value, in which case it
 * is rebuilt (and says nothing the client sent but names the schema knows).
 */
export function safeValueMessage(error: GraphQLError, options: ValueMessageOptions): string {
  const { message } = error;
  // Validation sees the document, never the variables' values: "Variable "$x" is never used." stays.
  const validation = error.extensions.code === 'GRAPHQL_VALIDATION_FAILED';
  if (message.startsWith('Variable "$') && !validation) return variableMessage(error, options);
  if (message.startsWith('Argument "') && message.includes('" has invalid value ')) {
    const argument = quotedAt(message, 'Argument '.length, (name) => NAME.test(name));
    return argument ? `Argument "${argument.value}" has invalid value.` : 'An argument has an invalid value.';
  }
  if (VALUE_MESSAGE_HEADS.some((head) => message.startsWith(head)) || leafThatCannotRepresent(message, options.schema)) {
    return valueReason(message, undefined, options);
  }
  return message;
}

/** A copy of `error` with a safe message and without the error it wrapped (which quotes the value). */
export function withSafeValueMessage(error: GraphQLError, options: ValueMessageOptions): GraphQLError {
  const message = safeValueMessage(error, options);
  if (message === error.message) return error;
  return new GraphQLError(message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    extensions: error.extensions,
  });
}
