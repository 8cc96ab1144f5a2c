import { createHash, createSign, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A minimal OpenID issuer whose ID tokens can be tampered with: another issuer, another audience,
// another nonce, or a signature by a key it does not publish. Everything else is correct (PKCE
// checked, client authenticated), so a refusal can only come from the ID token checks.

export interface Tampering {
  iss?: string;
  aud?: string;
  nonce?: string;
  /** Sign with a key that is not in the published JWKS. */
  foreignKey?: boolean;
}

export interface TamperedIssuer {
  issuer: string;
  clientId: string;
  clientSecret: string;
  account: { sub: string; email: string; email_verified: boolean };
  tamper: Tampering;
  env(id: string): Record<string, string>;
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
};

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function signJwt(claims: Record<string, unknown>, key: KeyObject): string {
  const input = `${b64({ alg: 'RS256', typ: 'JWT', kid: 'k1' })}.${b64(claims)}`;
  return `${input}.${createSign('RSA-SHA256').update(input).sign(key).toString('base64url')}`;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

export async function startTamperedIssuer(): Promise<TamperedIssuer> {
  const published = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const foreign = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const codes = new Map<string, { nonce: string; challenge: string }>();
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const state: Omit<TamperedIssuer, 'env' | 'close'> = {
    issuer,
    clientId: 'tampered-client',
    clientSecret: randomBytes(16).toString('hex'),
    account: { sub: 'victim-1', email: 'victim@example.com', email_verified: true },
    tamper: {},
  };

  server.on('request', async (req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    switch (url.pathname) {
      case '/.well-known/openid-configuration':
        return json(res, 200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          userinfo_endpoint: `${issuer}/userinfo`,
          jwks_uri: `${issuer}/jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['client_secret_basic'],
        });
      case '/jwks':
        return json(res, 200, { keys: [{ ...published.publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'RS256' }] });
      case '/authorize': {
        // The user is signed in and consents at once.
        const q = url.searchParams;
        const code = randomBytes(16).toString('hex');
        codes.set(code, { nonce: q.get('nonce') ?? '', challenge: q.get('code_challenge') ?? '' });
        const back = new URL(q.get('redirect_uri')!);
        back.searchParams.set('code', code);
        back.searchParams.set('state', q.get('state') ?? '');
        res.writeHead(302, { location: back.href });
        return res.end();
      }
      case '/token': {
        const form = await readForm(req);
        // Basic credentials are form-urlencoded before base64 (RFC 6749 2.3.1).
        const [id, secret] = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64')
          .toString()
          .split(':')
          .map((part) => decodeURIComponent(part.replace(/\+/g, ' ')));
        if (id !== state.clientId || secret !== state.clientSecret) return json(res, 401, { error: 'invalid_client' });
        const grant = codes.get(form.get('code') ?? '');
        codes.delete(form.get('code') ?? '');
        const verifier = form.get('code_verifier') ?? '';
        if (!grant || createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) {
          return json(res, 400, { error: 'invalid_grant' });
        }
        const now = Math.floor(Date.now() / 1000);
        const { tamper } = state;
        const idToken = signJwt(
          {
            iss: tamper.iss ?? issuer,
            aud: tamper.aud ?? state.clientId,
            sub: state.account.sub,
            nonce: tamper.nonce ?? grant.nonce,
            iat: now,
            exp: now + 300,
            email: state.account.email,
            email_verified: state.account.email_verified,
          },
          tamper.foreignKey ? foreign.privateKey : published.privateKey,
        );
        return json(res, 200, { access_token: randomBytes(16).toString('hex'), token_type: 'Bearer', expires_in: 300, id_token: idToken });
      }
      case '/userinfo':
        return json(res, 200, state.account);
      default:
        return json(res, 404, { error: 'not_found' });
    }
  });

  return Object.assign(state, {
    env: (id: string) => {
      const key = `OAUTH_${id.toUpperCase()}`;
      return { [`${key}_ISSUER`]: issuer, [`${key}_CLIENT_ID`]: state.clientId, [`${key}_CLIENT_SECRET`]: state.clientSecret };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}
