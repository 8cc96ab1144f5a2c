import { AUTH_PAYLOAD, finishSignIn, graphql, session, settings } from './api.js';
import { startOAuth } from './oauth.js';
import { signInWithPasskey } from './passkey.js';
import { $, describeError, onSubmit, say } from './ui.js';

// Sign-in: password (or a new account), a magic link, an emailed code, OAuth providers, and a
// password reset request, all from one email field.

const SIGNED_OUT = {
  revoked: 'You were signed out: this session was revoked from another device.',
  logout: 'You are signed out.',
  expired: 'Your session has ended. Sign in again.',
};

const form = $('#sign-in-form');
const emailInput = $('#email');
const params = new URLSearchParams(location.search);

async function start() {
  if (settings.devOutbox) $('#dev-outbox').hidden = false;
  if (settings.passkeys) $('#passkey-actions').hidden = false;
  if (params.get('signed_out')) say(SIGNED_OUT[params.get('signed_out')] ?? SIGNED_OUT.logout);
  if (params.get('continue') === 'verify-email') say('Sign in to confirm your email address.');
  if (params.get('oauth_error')) say('Signing in with that provider did not work. Try again or use another way.', 'error');
  if (location.pathname === '/auth/forgot-password') say('Type your email and choose "Forgot your password?": we mail you a link to choose a new one.');
  // Already signed in: straight to the account (unless the API says the session is gone).
  if (session.token() && !params.get('continue')) return location.replace('/account');
  await showProviders();
}

async function showProviders() {
  const { oauthProviders } = await graphql('{ oauthProviders { id name } }').catch(() => ({ oauthProviders: [] }));
  if (!oauthProviders.length) return;
  const box = $('#oauth-buttons');
  for (const provider of oauthProviders) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary';
    button.textContent = provider.name;
    button.addEventListener('click', () => startOAuth(provider.id).catch((error) => say(describeError(error), 'error')));
    box.append(button);
  }
  $('#oauth').hidden = false;
}

function mailed(what) {
  const outbox = settings.devOutbox ? ' (development: open the dev outbox below)' : '';
  say(`Check your inbox: if the address can receive mail, ${what} is on its way${outbox}.`, 'success');
}

const actions = {
  async password(email, password) {
    const { login } = await graphql(`mutation($input: LoginInput!) { login(input: $input) { ${AUTH_PAYLOAD} } }`, { input: { email, password } });
    finishSignIn(login);
  },
  async register(email, password) {
    const { register } = await graphql(`mutation($input: RegisterInput!) { register(input: $input) { ${AUTH_PAYLOAD} } }`, { input: { email, password } });
    finishSignIn(register);
  },
  async 'magic-link'(email) {
    await graphql('mutation($input: RequestMagicLinkInput!) { requestMagicLink(input: $input) }', { input: { email } });
    mailed('a sign-in link');
  },
  async 'email-code'(email) {
    await graphql('mutation($input: RequestEmailCodeInput!) { requestEmailCode(input: $input) }', { input: { email } });
    mailed('a 6-digit code');
    $('#code-form').hidden = false;
    $('#code').focus();
  },
  async 'forgot-password'(email) {
    await graphql('mutation($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) }', { input: { email } });
    mailed('a link to choose a new password');
  },
};

onSubmit(form, async (data, submitter) => {
  const intent = submitter?.value || 'password';
  const email = String(data.get('email')).trim();
  const password = String(data.get('password'));
  if (!email) {
    emailInput.focus();
    return say('Type your email address first.', 'error');
  }
  if ((intent === 'password' || intent === 'register') && !password) {
    $('#password').focus();
    return say('Type your password, or choose a link or a code instead.', 'error');
  }
  say('');
  await actions[intent](email, password);
});

onSubmit($('#code-form'), async (data) => {
  const input = { email: emailInput.value.trim(), code: String(data.get('code')).trim() };
  const { loginWithEmailCode } = await graphql(`mutation($input: LoginWithEmailCodeInput!) { loginWithEmailCode(input: $input) { ${AUTH_PAYLOAD} } }`, {
    input,
  });
  finishSignIn(loginWithEmailCode);
});

$('#passkey-button').addEventListener('click', () => signInWithPasskey(emailInput.value.trim()).catch((error) => say(describeError(error), 'error')));

start().catch((error) => say(describeError(error), 'error'));
