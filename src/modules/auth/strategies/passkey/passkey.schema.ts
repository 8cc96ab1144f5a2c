import { builder } from '../../../../graphql/builder.ts';
import { fieldPolicy } from '../../../../graphql/security/field-policy.ts';
import { rateLimits } from '../../../../graphql/security/rate-limit.ts';
import { AdminUser } from '../../../admin/admin.schema.ts';
import { AuthPayload, signedIn } from '../../auth.schema.ts';
import type { PasskeyCeremony } from './passkey.service.ts';

// The passkey fields of API.md. `options` is the bare options JSON a frontend hands to
// @simplewebauthn/browser (or navigator.credentials); `response` is the JSON it gets back.

const Passkey = builder.prismaObject('Passkey', {
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true }),
  }),
});

const PasskeyChallenge = builder.objectRef<PasskeyCeremony>('PasskeyChallenge').implement({
  description: 'One WebAuthn ceremony: present `challengeId` with the response; it lives 5 minutes and is used once',
  fields: (t) => ({
    challengeId: t.exposeID('challengeId'),
    options: t.exposeString('options', {
      description: 'PublicKeyCredentialCreationOptionsJSON (registration) or PublicKeyCredentialRequestOptionsJSON (sign-in)',
    }),
  }),
});

const FinishPasskeyRegistrationInput = builder.inputType('FinishPasskeyRegistrationInput', {
  fields: (t) => ({
    challengeId: t.id({ required: true }),
    response: t.string({ required: true, description: "The JSON of the browser's PublicKeyCredential" }),
    name: t.string({ description: 'What the user calls this passkey (at most 64 characters); default "Passkey"' }),
  }),
});

const StartPasskeySignInInput = builder.inputType('StartPasskeySignInInput', {
  fields: (t) => ({ email: t.string({ description: 'Optional: without it any discoverable passkey of this site may answer' }) }),
});

const LoginWithPasskeyInput = builder.inputType('LoginWithPasskeyInput', {
  fields: (t) => ({
    challengeId: t.id({ required: true }),
    response: t.string({ required: true, description: "The JSON of the browser's PublicKeyCredential" }),
  }),
});

builder.queryField('myPasskeys', (t) =>
  t.field({
    type: [Passkey],
    authScopes: { user: true },
    description: "The signed-in user's passkeys, newest first",
    resolve: (_root, _args, ctx) => ctx.services.passkey.listFor(ctx.viewer!.user.id),
  }),
);

builder.mutationField('startPasskeyRegistration', (t) =>
  t.field({
    type: PasskeyChallenge,
    authScopes: { user: true },
    description: 'Creation options for a new passkey (resident key preferred, user verification required)',
    directives: rateLimits('30/15m:USER'),
    resolve: (_root, _args, ctx) => ctx.services.passkey.startRegistration(ctx.viewer!.user),
  }),
);

builder.mutationField('finishPasskeyRegistration', (t) =>
  t.field({
    type: Passkey,
    authScopes: { user: true },
    description: `Verifies the browser's response and keeps the passkey (at most 20 an account); the user is mailed`,
    directives: rateLimits('30/15m:USER'),
    args: { input: t.arg({ type: FinishPasskeyRegistrationInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.passkey.finishRegistration(ctx.viewer!.user, { ...input, challengeId: String(input.challengeId) }, ctx.client),
  }),
);

builder.mutationField('deletePasskey', (t) =>
  t.boolean({
    authScopes: { user: true },
    description: "Deletes one of the caller's passkeys; false when the id is not one of them",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.passkey.remove(String(id), { userId: ctx.viewer!.user.id, client: ctx.client }),
  }),
);

builder.mutationField('startPasskeySignIn', (t) =>
  t.field({
    extensions: fieldPolicy({ sensitive: true }),
    type: PasskeyChallenge,
    description: 'Request options for a passkey sign-in; the same answer whether or not the email has an account',
    directives: rateLimits('30/15m:IP'),
    args: { input: t.arg({ type: StartPasskeySignInInput }) },
    resolve: (_root, { input }, ctx) => ctx.services.passkey.startSignIn(input?.email),
  }),
);

builder.mutationField('loginWithPasskey', (t) =>
  t.field({
    extensions: fieldPolicy({ sensitive: true }),
    type: AuthPayload,
    description: 'Signs in with a passkey (method PASSKEY); it counts as both factors',
    directives: rateLimits('30/15m:IP'),
    args: { input: t.arg({ type: LoginWithPasskeyInput, required: true }) },
    resolve: async (_root, { input }, ctx) =>
      signedIn(ctx, await ctx.services.passkey.login({ challengeId: String(input.challengeId), response: input.response }, ctx.client)),
  }),
);

builder.objectField(AdminUser, 'passkeys', (t) =>
  t.field({
    type: [Passkey],
    description: "The user's passkeys, newest first",
    resolve: (view, _args, ctx) => ctx.services.passkey.listFor(view.user.id),
  }),
);

builder.mutationField('adminDeletePasskey', (t) =>
  t.boolean({
    authScopes: { admin: true },
    description: "Deletes any user's passkey; false when there is none with this id",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.passkey.remove(String(id), { actorId: ctx.viewer!.user.id, client: ctx.client }),
  }),
);
