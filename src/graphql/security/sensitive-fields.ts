import { GraphQLError, Kind, type ASTVisitor, type SelectionSetNode, type ValidationContext } from 'graphql';

// At most one sensitive auth field per operation: aliases (`a: login … b: login …`) would
// otherwise let one request try many passwords or tokens, and batch mail sends.

export const sensitiveFields = new Set([
  'login', 'register', 'loginWithMagicLink', 'loginWithEmailCode', 'requestMagicLink', 'requestEmailCode',
  'requestPasswordReset', 'requestEmailVerification', 'resetPassword', 'verifyEmail', 'completeOAuth',
]);

export function oneSensitiveFieldRule(context: ValidationContext): ASTVisitor {
  const count = (set: SelectionSetNode, seen: Set<string>): number => {
    let n = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) n += sensitiveFields.has(selection.name.value) ? 1 : 0;
      else if (selection.kind === Kind.INLINE_FRAGMENT) n += count(selection.selectionSet, seen);
      else if (!seen.has(selection.name.value)) {
        const fragment = context.getFragment(selection.name.value);
        if (fragment) n += count(fragment.selectionSet, new Set([...seen, selection.name.value]));
      }
    }
    return n;
  };
  return {
    OperationDefinition(operation) {
      if (operation.operation === 'query') return;
      if (count(operation.selectionSet, new Set()) > 1) {
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
