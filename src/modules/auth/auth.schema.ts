import { builder } from '../../graphql/builder.ts';
import type { GraphQLContext } from '../../graphql/context.ts';
import { fieldPolicy } from '../../graphql/security/field-policy.ts';
import { rateLimits } from '../../graphql/security/rate-limit.ts';
import type { AuthResult } from '../../kernel/viewer.ts';
import { Session } from '../sessions/sessions.schema.ts';
import { User } from '../users/users.schema.ts';

// What every sign-in answers, and registration (a sign-in that creates the account).

export const AuthPayload = builder.objectRef<AuthResult>('AuthPayload').implement({
  fields: (t) => ({
    token: t.exposeString('token', { description: 'Send as `Authorization: Bearer <token>`' }),
    user: t.field({ type: User, resolve: (r) => r.user }),
    session: t.field({ type: Session, resolve: (r) => r.session }),
  }),
});

/** Makes a fresh sign-in the viewer of the rest of the operation, and sets the cookie when enabled. */
export function signedIn(ctx: GraphQLContext, result: AuthResult): AuthResult {
  ctx.viewer = { user: result.user, session: result.session };
  ctx.setSessionCookie(result.token, ctx.services.sessions.effectiveExpiry(result.session));
  return result;
}

const RegisterInput = builder.inputType('RegisterInput', {
  fields: (t) => ({
    email: t.string({ required: true }),
    password: t.string({ description: 'Optional: without it the account is passwordless' }),
    name: t.string(),
  }),
});

builder.mutationField('register', (t) =>
  t.field({
    extensions: fieldPolicy({ sensitive: true }),
    type: AuthPayload,
    directives: rateLimits('10/1h:IP', '5/1h:EMAIL'),
    args: { input: t.arg({ type: RegisterInput, required: true }) },
    resolve: async (_root, { input }, ctx) => signedIn(ctx, await ctx.services.registration.register(input, ctx.client)),
  }),
);
