import { ApiError, graphql, session, signedOut } from './api.js';
import { watchRevocations } from './session-socket.js';
import { $, describeError, say } from './ui.js';

// The account page: who is signed in, and every live session, kept current over the WebSocket
// (sessionRevoked): a session ended elsewhere leaves the list at once, and when it is this tab's
// own, the tab signs out at once.

const METHODS = { PASSWORD: 'password', MAGIC_LINK: 'magic link', EMAIL_CODE: 'email code', OAUTH: 'OAuth', PASSKEY: 'passkey' };
const SESSIONS = '{ mySessions { id current method ipAddress userAgent createdAt lastSeenAt } }';
let currentSessionId = null;
/** This tab is signing out by itself: its own revocation event is then no news. */
let signingOut = false;
const endedHere = () => signedOut(signingOut ? 'logout' : 'revoked');

const when = (iso) => new Date(iso).toLocaleString();

function describeAgent(userAgent) {
  if (!userAgent) return 'Unknown device';
  const browser = /(Edg|Firefox|Chrome|Safari)\/[\d.]+/.exec(userAgent)?.[1]?.replace('Edg', 'Edge');
  const system = /(Windows|Mac OS X|Android|iPhone|Linux)/.exec(userAgent)?.[1]?.replace('Mac OS X', 'macOS');
  return [browser, system].filter(Boolean).join(' on ') || userAgent.slice(0, 60);
}

function sessionItem(s) {
  const item = document.createElement('li');
  item.dataset.sessionId = s.id;
  const text = document.createElement('div');
  const heading = document.createElement('div');
  heading.textContent = describeAgent(s.userAgent);
  const details = document.createElement('div');
  details.className = 'details';
  details.textContent =
    `Signed in by ${METHODS[s.method] ?? s.method} on ${when(s.createdAt)}` +
    `${s.ipAddress ? ` from ${s.ipAddress}` : ''} · last active ${when(s.lastSeenAt)}`;
  text.append(heading, details);
  item.append(text);
  if (s.current) {
    const mark = document.createElement('span');
    mark.className = 'current';
    mark.textContent = 'This device';
    item.append(mark);
  } else {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary';
    button.textContent = 'Revoke';
    button.setAttribute('aria-label', `Revoke the session of ${heading.textContent} from ${when(s.createdAt)}`);
    button.addEventListener('click', () => revoke(s.id, button));
    item.append(button);
  }
  return item;
}

function renderSessions(sessions) {
  currentSessionId = sessions.find((s) => s.current)?.id ?? currentSessionId;
  $('#sessions').replaceChildren(...sessions.map(sessionItem));
  $('#revoke-others').hidden = sessions.length < 2;
}

async function refreshSessions() {
  renderSessions((await graphql(SESSIONS)).mySessions);
}

function removeSession(id) {
  document.querySelector(`#sessions li[data-session-id="${CSS.escape(id)}"]`)?.remove();
  $('#revoke-others').hidden = $('#sessions').children.length < 2;
}

async function revoke(id, button) {
  button.disabled = true;
  try {
    const { revokeSession } = await graphql('mutation($id: ID!) { revokeSession(id: $id) }', { id });
    removeSession(id);
    say(revokeSession ? 'The session is signed out.' : 'That session had already ended.', 'success');
    $('#sessions-title').focus();
  } catch (error) {
    button.disabled = false;
    failed(error);
  }
}

function failed(error) {
  if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') return signedOut('expired');
  say(describeError(error), 'error');
}

async function start() {
  if (!session.maybeSignedIn()) return location.replace(`/auth/sign-in${location.search}`);
  const { me } = await graphql('{ me { email name emailVerified } }');
  // Cookie mode without a live cookie: a visitor, not a session that ended.
  if (!me) return location.replace(`/auth/sign-in${location.search}`);
  $('#email').textContent = me.email;
  $('#name').textContent = me.name ?? '—';
  $('#verify').hidden = me.emailVerified;
  await refreshSessions();
  $('main').removeAttribute('aria-busy');
  watchRevocations({
    onRevoked(event) {
      if (event.sessionId === currentSessionId) return endedHere();
      removeSession(event.sessionId);
      say('A session was signed out.');
    },
    onSessionEnded: endedHere,
    // Whatever ended between the first list and the subscription: read the list once more.
    onSubscribed: () =>
      refreshSessions()
        .then(() => (document.body.dataset.live = 'true'))
        .catch(failed),
  });
}

$('#sign-out').addEventListener('click', async () => {
  signingOut = true;
  await graphql('mutation { logout }').catch(() => {});
  signedOut('logout');
});

$('#revoke-others').addEventListener('click', async () => {
  try {
    const { revokeOtherSessions } = await graphql('mutation { revokeOtherSessions }');
    await refreshSessions();
    say(`${revokeOtherSessions} other session${revokeOtherSessions === 1 ? ' is' : 's are'} signed out.`, 'success');
  } catch (error) {
    failed(error);
  }
});

$('#verify-button').addEventListener('click', async () => {
  try {
    await graphql('mutation { requestEmailVerification }');
    say('A confirmation link is on its way to your inbox.', 'success');
  } catch (error) {
    failed(error);
  }
});

start().catch(failed);
