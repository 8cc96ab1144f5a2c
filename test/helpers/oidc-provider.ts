import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

// A real OpenID provider (oidc-provider) on a loopback port, with its development login and consent
// pages, and a small cookie-keeping "browser" that signs in through them by following redirects
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

/** A user agent reduced to what sign-in needs: a cookie jar and manual redirects. */
export function createBrowser() {
  const jar = new Map<string, { value: string; origin: string; path: string }>();

  function store(url: URL, response: Response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const path = attributes.map((a) => a.trim()).find((a) => /^path=/i.test(a))?.slice(5) || '/';
      const key = `${url.origin} ${path} ${name}`;
      const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || attributes.some((a) => /^\s*max-age=0/i.test(a));
      if (expired) jar.delete(key);
      else jar.set(key, { value, origin: url.origin, path });
    }
  }

  function cookieHeader(url: URL): string {
    return [...jar.entries()]
      .filter(([, c]) => c.origin === url.origin && url.pathname.startsWith(c.path))
      .map(([key, c]) => `${key.split(' ')[2]}=${c.value}`)
      .join('; ');
  }

  async function request(url: URL, init: { method?: string; form?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { cookie: cookieHeader(url) };
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const response = await fetch(url, { method: init.method ?? 'GET', headers, body, redirect: 'manual' });
    store(url, response);
    return response;
  }

  return {
    /**
     * Opens `authorizationUrl` and goes through the provider's pages: signs in as `login`, then
     * consents (or aborts, answering "no"). Returns the first redirect that leaves for `stopAt`
     * (our callback), without following it.
     */
    async signIn(authorizationUrl: string, opts: { login: string; stopAt: string; abort?: boolean }): Promise<URL> {
      let url = new URL(authorizationUrl);
      let response = await request(url);
      for (let step = 0; step < 20; step++) {
        if (response.status >= 300 && response.status < 400) {
          const next = new URL(response.headers.get('location')!, url);
          if (next.href.startsWith(opts.stopAt)) return next;
          url = next;
          response = await request(url);
          continue;
        }
        const html = await response.text();
        if (response.status !== 200) throw new Error(`provider answered ${response.status}: ${html.slice(0, 300)}`);
        const action = new URL(/<form[^>]*action="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&'), url);
        const prompt = /name="prompt" value="(\w+)"/.exec(html)![1];
        if (opts.abort) {
          url = new URL(`${action.pathname}/abort`, url);
          response = await request(url);
        } else if (prompt === 'login') {
          response = await request((url = action), { method: 'POST', form: { prompt: 'login', login: opts.login, password: 'any' } });
        } else {
          response = await request((url = action), { method: 'POST', form: { prompt: 'consent' } });
        }
      }
      throw new Error('sign-in at the provider did not come back');
    },
  };
}

/** GETs our callback without following its redirect; returns where it sends the browser. */
export async function followCallback(callbackUrl: URL | string): Promise<{ status: number; location: URL; headers: Headers }> {
  const response = await fetch(callbackUrl, { redirect: 'manual' });
  return { status: response.status, location: new URL(response.headers.get('location') ?? 'about:blank'), headers: response.headers };
}
