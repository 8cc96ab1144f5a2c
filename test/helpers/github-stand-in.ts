import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A local stand-in for GitHub's three OAuth endpoints, behaving as GitHub documents them: the
// authorize page (here: the signed-in user consents at once), the token endpoint (form POST,
// client secret in the body, PKCE S256 checked, errors as 200 with an `error` field) and the REST
// API's GET /user and GET /user/emails with a bearer token.

export interface GitHubUserFixture {
  id: number;
  login: string;
  name?: string | null;
  emails: Array<{ email: string; primary: boolean; verified: boolean }>;
}

export interface GitHubStandIn {
  url: string;
  clientId: string;
  clientSecret: string;
  users: Map<string, GitHubUserFixture>;
  /** Who is "signed in at GitHub" when the authorize page is opened. */
  signedInAs: string | null;
  /** Makes GET /user/emails answer 500. */
  failEmails: boolean;
  /** Every code_verifier the token endpoint accepted, and every access token it issued. */
  seen: { codeVerifiers: string[]; accessTokens: string[] };
  env(id: string): Record<string, string>;
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
};

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

export async function startGitHubStandIn(): Promise<GitHubStandIn> {
  const codes = new Map<string, { login: string; challenge: string; redirectUri: string }>();
  const tokens = new Map<string, string>();
  const standIn: Omit<GitHubStandIn, 'url' | 'env' | 'close'> = {
    clientId: `Iv1.${randomBytes(8).toString('hex')}`,
    clientSecret: randomBytes(20).toString('hex'),
    users: new Map(),
    signedInAs: null,
    failEmails: false,
    seen: { codeVerifiers: [], accessTokens: [] },
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') {
      const q = url.searchParams;
      const redirectUri = q.get('redirect_uri');
      if (q.get('client_id') !== standIn.clientId || !redirectUri) return json(res, 400, { error: 'bad client or redirect_uri' });
      if (q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) return json(res, 400, { error: 'PKCE S256 expected' });
      const back = new URL(redirectUri);
      if (!standIn.signedInAs) {
        back.searchParams.set('error', 'access_denied');
        back.searchParams.set('error_description', 'The user has denied your application access.');
      } else {
        const code = randomBytes(10).toString('hex');
        codes.set(code, { login: standIn.signedInAs, challenge: q.get('code_challenge')!, redirectUri });
        back.searchParams.set('code', code);
      }
      if (q.get('state')) back.searchParams.set('state', q.get('state')!);
      res.writeHead(302, { location: back.href });
      return res.end();
    }
    if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
      const form = await readForm(req);
      // GitHub answers token errors with 200 and an `error` field.
      const fail = (error: string) => json(res, 200, { error, error_description: 'The code passed is incorrect or expired.' });
      if (form.get('client_id') !== standIn.clientId || form.get('client_secret') !== standIn.clientSecret) return fail('incorrect_client_credentials');
      const grant = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? '');
      if (!grant) return fail('bad_verification_code');
      if (form.get('redirect_uri') !== grant.redirectUri) return fail('redirect_uri_mismatch');
      const verifier = form.get('code_verifier') ?? '';
      if (createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) return fail('bad_verification_code');
      standIn.seen.codeVerifiers.push(verifier);
      const accessToken = `gho_${randomBytes(18).toString('hex')}`;
      tokens.set(accessToken, grant.login);
      standIn.seen.accessTokens.push(accessToken);
      return json(res, 200, { access_token: accessToken, token_type: 'bearer', scope: 'read:user,user:email' });
    }
    if (req.method === 'GET' && url.pathname.startsWith('/api/')) {
      const login = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /i, ''));
      const user = login ? standIn.users.get(login) : undefined;
      if (!user) return json(res, 401, { message: 'Bad credentials' });
      if (!req.headers['user-agent']) return json(res, 403, { message: 'User-Agent required' });
      if (url.pathname === '/api/user') return json(res, 200, { id: user.id, login: user.login, name: user.name ?? null, email: null });
      if (url.pathname === '/api/user/emails') {
        if (standIn.failEmails) return json(res, 500, { message: 'Server Error' });
        return json(
          res,
          200,
          user.emails.map((e) => ({ ...e, visibility: e.primary ? 'private' : null })),
        );
      }
    }
    json(res, 404, { message: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return Object.assign(standIn, {
    url,
    env: (id: string) => {
      const key = `OAUTH_${id.toUpperCase()}`;
      return {
        [`${key}_CLIENT_ID`]: standIn.clientId,
        [`${key}_CLIENT_SECRET`]: standIn.clientSecret,
        [`${key}_AUTHORIZATION_URL`]: `${url}/login/oauth/authorize`,
        [`${key}_TOKEN_URL`]: `${url}/login/oauth/access_token`,
        [`${key}_API_URL`]: `${url}/api`,
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}
