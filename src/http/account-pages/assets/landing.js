import { AUTH_PAYLOAD, finishSignIn, graphql, rememberReturn, session, settings, signedOut } from './api.js';
import { completeOAuth } from './oauth.js';
import { $, describeError, forgetQuery, onSubmit, say } from './ui.js';

// The pages the mailed links open (API.md: /auth/magic-link, /auth/email-code, /auth/reset-password,
// /auth/verify-email), the OAuth return (/auth/oauth) and the second-factor step. A link's secret
// is read once, then removed from the address bar and the history.

const params = new URLSearchParams(location.search);

function title(text) {
  document.title = `${text} · Portcullis`;
  $('#title').textContent = text;
}

function failed(error) {
  say(describeError(error), 'error');
  $('#next').hidden = false;
}

const landings = {
  async '/auth/magic-link'() {
    title('Signing you in…');
    const input = { email: params.get('email') ?? '', token: params.get('token') ?? '' };
    forgetQuery();
    const { loginWithMagicLink } = await graphql(`mutation($input: LoginWithMagicLinkInput!) { loginWithMagicLink(input: $input) { ${AUTH_PAYLOAD} } }`, {
      input,
    });
    finishSignIn(loginWithMagicLink);
  },

  async '/auth/email-code'() {
    title('Enter your code');
    const form = $('#code-form');
    $('#code-email').value = params.get('email') ?? '';
    $('#code').value = params.get('code') ?? '';
    forgetQuery();
    onSubmit(form, async (data) => {
      const input = { email: String(data.get('email')).trim(), code: String(data.get('code')).trim() };
      const { loginWithEmailCode } = await graphql(`mutation($input: LoginWithEmailCodeInput!) { loginWithEmailCode(input: $input) { ${AUTH_PAYLOAD} } }`, {
        input,
      });
      finishSignIn(loginWithEmailCode);
    });
    form.hidden = false;
    // A link carries both: sign in at once, as the magic link does; else wait for the code.
    if ($('#code-email').value && $('#code').value) form.requestSubmit();
    else $('#code').focus();
  },

  async '/auth/reset-password'() {
    title('Choose a new password');
    const token = params.get('token') ?? '';
    forgetQuery();
    const form = $('#reset-form');
    onSubmit(form, async (data) => {
      await graphql('mutation($input: ResetPasswordInput!) { resetPassword(input: $input) }', {
        input: { token, newPassword: String(data.get('newPassword')) },
      });
      // Every session of the account ends with a reset, this tab's too.
      session.clear();
      form.hidden = true;
      title('Password changed');
      say('Your password is changed and every session of the account is signed out. Sign in with the new password.', 'success');
      $('#next').hidden = false;
      $('#next a').focus();
    });
    form.hidden = false;
    $('#new-password').focus();
  },

  async '/auth/verify-email'() {
    title('Confirming your email address…');
    if (!session.maybeSignedIn()) {
      // The link proves the mailbox to a session of its account only: sign in first, then back here.
      rememberReturn(location.pathname + location.search);
      return location.replace('/auth/sign-in?continue=verify-email');
    }
    const token = params.get('token') ?? '';
    forgetQuery();
    try {
      await graphql('mutation($input: VerifyEmailInput!) { verifyEmail(input: $input) { email emailVerified } }', { input: { token } });
    } catch (error) {
      if (error.code !== 'UNAUTHENTICATED') throw error;
      rememberReturn(`${location.pathname}?token=${encodeURIComponent(token)}`);
      return signedOut('expired');
    }
    title('Email address confirmed');
    say('Your email address is confirmed.', 'success');
    const next = $('#next');
    next.querySelector('a').href = '/account';
    next.querySelector('a').textContent = 'Go to your account';
    next.hidden = false;
  },

  async '/auth/oauth'() {
    title('Signing you in…');
    const code = params.get('oauth_code');
    forgetQuery();
    if (!code) throw Object.assign(new Error('Signing in with that provider did not work. Try again or use another way.'), { code: 'OAUTH' });
    await completeOAuth(code);
  },

  async '/auth/second-factor'() {
    title('Second step');
    if (!settings.secondFactor || !session.maybeSignedIn()) return location.replace('/auth/sign-in');
    const { me } = await graphql('{ me { email } }');
    $('#second-factor-user').textContent = `Signing in as ${me?.email ?? ''}.`;
    const form = $('#second-factor-form');
    onSubmit(form, async (data) => {
      const code = String(data.get('code')).trim();
      const recoveryCode = String(data.get('recoveryCode')).trim();
      const input = recoveryCode ? { recoveryCode } : { code };
      const { completeSecondFactor } = await graphql(
        `mutation($input: CompleteSecondFactorInput!) { completeSecondFactor(input: $input) { ${AUTH_PAYLOAD} } }`,
        { input },
      );
      finishSignIn(completeSecondFactor);
    });
    $('#second-factor-cancel').addEventListener('click', async () => {
      await graphql('mutation { logout }').catch(() => {});
      signedOut('logout');
    });
    form.hidden = false;
    $('#second-factor-code').focus();
  },
};

const landing = landings[location.pathname.replace(/\/$/, '')];
landing().catch(failed);
