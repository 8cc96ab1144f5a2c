import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

// A real OpenID provider (oidc-provider) on a loopback port, with its development login and consent
// pages, which the cookie-keeping browser of browser.ts signs in through by following redirects
// the way a user agent would. Accounts are plain claim sets tests can change between sign-ins.

export interface TestAccount {
  email?: string;
  email_verified?: boolean;
  name?: string;
}

export interface TestOidcProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Account id (the `sub`) -> claims; edit freely. */
  accounts: Map<string, TestAccount>;
  /** The env for Portcullis, for provider id `id`. */
  env(id: string): Record<string, string>;
  close(): Promise<void>;
}

/** A free loopback port, so a redirect URI can be registered before the app listens on it. */
export async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export async function startOidcProvider(options: { redirectUri: string; accounts?: Record<string, TestAccount> }): Promise<TestOidcProvider> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = `portcullis-${randomBytes(4).toString('hex')}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const accounts = new Map(Object.entries(options.accounts ?? {}));
  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [options.redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [{ ...signingKey, kid: 'test-key', use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    // A strict provider: PKCE on every authorization request.
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 600, IdToken: 600, Interaction: 600, Session: 600 },
    async findAccount(_ctx, sub) {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return { accountId: sub, claims: () => ({ sub, ...accounts.get(sub) }) };
    },
  });
  // The dev interactions and every other route of the provider, on the port opened above.
  server.on('request', provider.callback());

  return {
    issuer,
    clientId,
    clientSecret,
    accounts,
    env: (id) => {
      const key = `OAUTH_${id.toUpperCase()}`;
      return { [`${key}_ISSUER`]: issuer, [`${key}_CLIENT_ID`]: clientId, [`${key}_CLIENT_SECRET`]: clientSecret };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The cookie-keeping browser that goes through the provider's pages (test/helpers/browser.ts). */
export { createBrowser } from './browser.ts';

/** GETs our callback without following its redirect; returns where it sends the browser. */
export async function followCallback(callbackUrl: URL | string): Promise<{ status: number; location: URL; headers: Headers }> {
  const response = await fetch(callbackUrl, { redirect: 'manual' });
  return { status: response.status, location: new URL(response.headers.get('location') ?? 'about:blank'), headers: response.headers };
}
