import { generateSync } from 'otplib';
import type { TestApp } from './app.ts';
import type { FakeClock } from './clock.ts';

// The second factor as a client sees it: enrol through the API, compute codes with otplib from
// the secret it returned (on the test's fake clock), sign in and complete.

export const PASSWORD = 'correct horse battery';
export const START_TOTP = `mutation($input: StartTotpEnrollmentInput) { startTotpEnrollment(input: $input) { secret otpauthUrl qrCodeSvg } }`;
export const CONFIRM_TOTP = `mutation($code: String!) { confirmTotpEnrollment(input: { code: $code }) { codes } }`;
export const COMPLETE = `mutation($code: String, $recoveryCode: String) {
  completeSecondFactor(input: { code: $code, recoveryCode: $recoveryCode }) {
    token secondFactorRequired user { id email } session { id secondFactor secondFactorPending }
  }
}`;
export const DISABLE = `mutation($code: String!) { disableSecondFactor(input: { code: $code }) }`;
export const REGENERATE = `mutation($code: String!) { regenerateRecoveryCodes(input: { code: $code }) { codes } }`;
export const LOGIN = `mutation($email: String!, $password: String!) {
  login(input: { email: $email, password: $password }) { token secondFactorRequired session { id secondFactorPending secondFactor } }
}`;
export const ME = `{ me { id email secondFactorEnabled recoveryCodesLeft } }`;

/** The TOTP code of `secret` at the clock's time, `steps` 30-second steps away. */
export const codeAt = (secret: string, clock: FakeClock, steps = 0): string =>
  generateSync({ secret, epoch: Math.floor(clock.now().getTime() / 1000) + steps * 30 });

/** Moves the clock to the start of the next time step (a code of a step not yet used). */
export function nextStep(clock: FakeClock): void {
  clock.advance(30_000 - (clock.now().getTime() % 30_000));
}

/** Registers `email`, enrols TOTP and returns the token, secret and recovery codes. */
export async function enrolledUser(t: TestApp, email: string) {
  const { token, userId, sessionId } = await t.register(email, PASSWORD);
  const started = await t.gql(START_TOTP, { input: { password: PASSWORD } }, { token });
  if (!started.body.data) throw new Error(`startTotpEnrollment failed: ${JSON.stringify(started.body.errors)}`);
  const { secret } = started.body.data.startTotpEnrollment;
  t.rememberSecret(secret);
  const confirmed = await t.gql(CONFIRM_TOTP, { code: codeAt(secret, t.clock) }, { token });
  if (!confirmed.body.data) throw new Error(`confirmTotpEnrollment failed: ${JSON.stringify(confirmed.body.errors)}`);
  const codes: string[] = confirmed.body.data.confirmTotpEnrollment.codes;
  for (const code of codes) t.rememberSecret(code);
  return { token, userId, sessionId, secret, codes, otpauthUrl: started.body.data.startTotpEnrollment.otpauthUrl as string };
}

/** A password sign-in; returns the (pending) token and session id. */
export async function passwordLogin(t: TestApp, email: string): Promise<{ token: string; sessionId: string; pending: boolean }> {
  const r = await t.gql(LOGIN, { email, password: PASSWORD });
  if (!r.body.data) throw new Error(`login failed: ${JSON.stringify(r.body.errors)}`);
  return { token: r.body.data.login.token, sessionId: r.body.data.login.session.id, pending: r.body.data.login.secondFactorRequired };
}

export const codeOf = (r: { body: { errors?: Array<{ extensions: Record<string, any> }> } }) => r.body.errors?.[0]?.extensions.code;

/** The first result of an operation over distinct-connection SSE, read from the raw stream. */
export async function sseFirstResult(url: string, query: string, token: string): Promise<{ data?: any; errors?: any[] }> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { accept: 'text/event-stream', 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query }),
    signal: AbortSignal.timeout(5000),
  });
  const reader = response.body!.getReader();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
    const match = /event: next\ndata: (.*)\n/.exec(text);
    if (match) {
      await reader.cancel();
      return JSON.parse(match[1]!);
    }
  }
  throw new Error(`no result on the stream: ${text}`);
}
