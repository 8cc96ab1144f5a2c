import { builder } from '../../../graphql/builder.ts';
import type { GraphQLContext } from '../../../graphql/context.ts';
import { SecondFactor } from '../../../graphql/scalars.ts';
import { fieldPolicy } from '../../../graphql/security/field-policy.ts';
import { rateLimits } from '../../../graphql/security/rate-limit.ts';
import { AdminUser } from '../../admin/admin.schema.ts';
import { Session } from '../../sessions/sessions.schema.ts';
import { AuthPayload, signedIn } from '../auth.schema.ts';
import { User } from '../../users/users.schema.ts';
import type { TotpEnrollment as Enrollment } from './second-factor.service.ts';

// API.md "Second factor". Every root field here but completeSecondFactor needs a settled session
// (the root types' scope); completeSecondFactor is the one a pending session exists for.

const TotpEnrollment = builder.objectRef<Enrollment>('TotpEnrollment').implement({
  description: 'A TOTP secret waiting for confirmTotpEnrollment',
  fields: (t) => ({
    secret: t.exposeString('secret', { description: 'Base32, for typing into an authenticator app' }),
    otpauthUrl: t.exposeString('otpauthUrl', { description: 'The otpauth://totp/ URI (what the QR code holds)' }),
    qrCodeSvg: t.exposeString('qrCodeSvg', { description: 'The URI as a QR code, an SVG document' }),
  }),
});

const RecoveryCodes = builder.objectRef<{ codes: string[] }>('RecoveryCodes').implement({
  description: 'Single-use codes for when the authenticator is lost; shown once',
  fields: (t) => ({ codes: t.exposeStringList('codes') }),
});

builder.objectFields(User, (t) => ({
  secondFactorEnabled: t.boolean({ resolve: (user) => user.totpEnabledAt != null }),
  recoveryCodesLeft: t.int({
    nullable: true,
    description: 'Unused recovery codes; null for anyone but the user and admins',
    resolve: (user, _args, ctx) => {
      const viewer = ctx.viewer;
      const allowed = viewer && !viewer.session.secondFactorPending && (viewer.user.id === user.id || viewer.user.role === 'ADMIN');
      return allowed ? ctx.services.secondFactor.recoveryCodesLeft(user.id) : null;
    },
  }),
}));

builder.objectFields(Session, (t) => ({
  secondFactor: t.expose('secondFactor', { type: SecondFactor, nullable: true, description: 'The second factor this session gave, if any' }),
  secondFactorPending: t.exposeBoolean('secondFactorPending', {
    description: 'Only the first factor was given: completeSecondFactor, logout and me until the second is',
  }),
}));

builder.objectFields(AuthPayload, (t) => ({
  secondFactorRequired: t.boolean({
    description: 'The session is pending: call completeSecondFactor with this token',
    resolve: (result) => result.session.secondFactorPending,
  }),
}));

const StartTotpEnrollmentInput = builder.inputType('StartTotpEnrollmentInput', {
  fields: (t) => ({ password: t.string({ description: 'Required when the account has a password' }) }),
});
const codeInput = (name: string, description: string) => builder.inputType(name, { fields: (t) => ({ code: t.string({ required: true, description }) }) });
const ConfirmTotpEnrollmentInput = codeInput('ConfirmTotpEnrollmentInput', 'A current code of the authenticator app');
const DisableSecondFactorInput = codeInput('DisableSecondFactorInput', 'A current TOTP code or an unused recovery code');
const RegenerateRecoveryCodesInput = codeInput('RegenerateRecoveryCodesInput', 'A current TOTP code or an unused recovery code');
const CompleteSecondFactorInput = builder.inputType('CompleteSecondFactorInput', {
  fields: (t) => ({
    code: t.string({ description: 'A current TOTP code' }),
    recoveryCode: t.string({ description: 'An unused recovery code (give exactly one of the two)' }),
  }),
});

const viewerOf = (ctx: GraphQLContext) => ctx.viewer!;

builder.mutationField('startTotpEnrollment', (t) =>
  t.field({
    type: TotpEnrollment,
    authScopes: { user: true },
    extensions: fieldPolicy({ sensitive: true }),
    directives: rateLimits('10/15m:USER'),
    description: 'A new TOTP secret, active once confirmed; CONFLICT while TOTP is on',
    args: { input: t.arg({ type: StartTotpEnrollmentInput }) },
    resolve: (_root, { input }, ctx) => ctx.services.secondFactor.startTotpEnrollment(viewerOf(ctx), input ?? {}, ctx.client),
  }),
);

builder.mutationField('confirmTotpEnrollment', (t) =>
  t.field({
    type: RecoveryCodes,
    authScopes: { user: true },
    extensions: fieldPolicy({ sensitive: true }),
    directives: rateLimits('10/15m:USER'),
    description: "Turns TOTP on with a current code; returns 10 recovery codes and revokes the user's other sessions",
    args: { input: t.arg({ type: ConfirmTotpEnrollmentInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ codes: await ctx.services.secondFactor.confirmTotpEnrollment(viewerOf(ctx), input, ctx.client) }),
  }),
);

builder.mutationField('completeSecondFactor', (t) =>
  t.field({
    type: AuthPayload,
    skipTypeScopes: true,
    authScopes: { pending: true },
    extensions: fieldPolicy({ sensitive: true }),
    directives: rateLimits('10/15m:USER'),
    description: 'Gives the second factor of a pending session (exactly one of code and recoveryCode); the same token, now full',
    args: { input: t.arg({ type: CompleteSecondFactorInput, required: true }) },
    resolve: async (_root, { input }, ctx) => signedIn(ctx, await ctx.services.secondFactor.completeSecondFactor(viewerOf(ctx), input, ctx.client)),
  }),
);

builder.mutationField('disableSecondFactor', (t) =>
  t.boolean({
    authScopes: { user: true },
    extensions: fieldPolicy({ sensitive: true }),
    directives: rateLimits('10/15m:USER'),
    description: "Removes TOTP and the recovery codes; revokes the user's other sessions",
    args: { input: t.arg({ type: DisableSecondFactorInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await ctx.services.secondFactor.disableSecondFactor(viewerOf(ctx), input, ctx.client);
      return true;
    },
  }),
);

builder.mutationField('regenerateRecoveryCodes', (t) =>
  t.field({
    type: RecoveryCodes,
    authScopes: { user: true },
    extensions: fieldPolicy({ sensitive: true }),
    directives: rateLimits('10/15m:USER'),
    description: 'Ten new recovery codes; the old ones stop working',
    args: { input: t.arg({ type: RegenerateRecoveryCodesInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({ codes: await ctx.services.secondFactor.regenerateRecoveryCodes(viewerOf(ctx), input, ctx.client) }),
  }),
);

builder.mutationField('adminResetSecondFactor', (t) =>
  t.field({
    type: AdminUser,
    authScopes: { admin: true },
    description: "Removes the user's TOTP and recovery codes and revokes every session of the user (SECOND_FACTOR_CHANGED)",
    args: { userId: t.arg.id({ required: true }) },
    resolve: async (_root, { userId }, ctx) => {
      await ctx.services.secondFactor.adminResetSecondFactor({ userId: viewerOf(ctx).user.id, client: ctx.client }, String(userId));
      return (await ctx.services.admin.findUser({ id: String(userId) }))!;
    },
  }),
);
