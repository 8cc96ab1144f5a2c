import type { TestApp } from './app.ts';

// A user agent reduced to what sign-in needs: cookies kept per host, redirects followed by hand,
// a sessionStorage per origin, and the two calls an OAuth frontend makes (as in the README): make a
// codeVerifier with crypto.getRandomValues, S256 it with crypto.subtle, keep it, startOAuth; back
// with an oauth_code, completeOAuth with the kept verifier.

export const VERIFIER_KEY = 'portcullis.oauth.codeVerifier';

/** A fresh RFC 7636 verifier (43 base64url characters) and its S256 challenge, the Web Crypto way. */
export async function newCodeVerifier(): Promise<{ codeVerifier: string; codeChallenge: string }> {
  const codeVerifier = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(codeVerifier));
  return { codeVerifier, codeChallenge: Buffer.from(digest).toString('base64url') };
}

const START = `mutation($input: StartOAuthInput!) { startOAuth(input: $input) { authorizationUrl } }`;
const COMPLETE = `mutation($input: CompleteOAuthInput!) {
  completeOAuth(input: $input) { token user { id email emailVerified role hasPassword } session { id method } }
}`;

export type Browser = ReturnType<typeof createBrowser>;

export function createBrowser() {
  const jar = new Map<string, { value: string; host: string; path: string }>();
  const storage = new Map<string, Map<string, string>>();

  function store(url: URL, response: Response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const path =
        attributes
          .map((a) => a.trim())
          .find((a) => /^path=/i.test(a))
          ?.slice(5) || '/';
      const key = `${url.host} ${path} ${name}`;
      const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || attributes.some((a) => /^\s*max-age=0/i.test(a));
      if (expired) jar.delete(key);
      else jar.set(key, { value, host: url.host, path });
    }
  }

  function cookieHeader(url: URL): string {
    return [...jar.entries()]
      .filter(([, c]) => c.host === url.host && url.pathname.startsWith(c.path))
      .map(([key, c]) => `${key.split(' ')[2]}=${c.value}`)
      .join('; ');
  }

  async function request(url: URL, init: { method?: string; form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { cookie: cookieHeader(url), ...init.headers };
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    } else if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    const response = await fetch(url, { method: init.method ?? 'GET', headers, body, redirect: 'manual' });
    store(url, response);
    return response;
  }

  /** Follows redirects from `url`; returns the first URL under `stopAt` (not opened) or the last page's. */
  async function open(start: URL | string, stopAt: string): Promise<URL> {
    let url = new URL(start);
    for (let step = 0; step < 20; step++) {
      if (url.href.startsWith(stopAt)) return url;
      const response = await request(url);
      await response.body?.cancel();
      if (response.status < 300 || response.status >= 400) return url;
      url = new URL(response.headers.get('location')!, url);
    }
    throw new Error('too many redirects');
  }

  const sessionStorage = (origin: string) => {
    if (!storage.has(origin)) storage.set(origin, new Map());
    return storage.get(origin)!;
  };

  /** A POST to our /graphql as the frontend's script sends it: JSON, this browser's cookies, the CSRF header. */
  async function gql(t: TestApp, query: string, variables: Record<string, unknown> = {}, token?: string) {
    const headers: Record<string, string> = { 'x-portcullis-csrf': '1', ...(token && { authorization: `Bearer ${token}` }) };
    const response = await request(new URL(`${t.url}/graphql`), { method: 'POST', json: { query, variables }, headers });
    return { status: response.status, body: (await response.json()) as { data?: any; errors?: any[] } };
  }

  return {
    request,
    open,
    sessionStorage,
    gql,
    cookieNames: () => [...jar.keys()].map((k) => k.split(' ')[2]),

    /** The frontend's sign-in button: keeps a new verifier for `frontend` and calls startOAuth with its challenge. */
    async startOAuth(t: TestApp, provider: string, redirectTo: string): Promise<{ authorizationUrl: string; codeVerifier: string }> {
      const { codeVerifier, codeChallenge } = await newCodeVerifier();
      t.rememberSecret(codeVerifier);
      sessionStorage(new URL(redirectTo).origin).set(VERIFIER_KEY, codeVerifier);
      const r = await gql(t, START, { input: { provider, redirectTo, codeChallenge } });
      if (!r.body.data?.startOAuth) throw new Error(`startOAuth failed: ${JSON.stringify(r.body.errors)}`);
      return { authorizationUrl: r.body.data.startOAuth.authorizationUrl, codeVerifier };
    },

    /** The frontend's page at `landedAt` (?oauth_code=…): completes with the verifier this browser kept, or `verifier`. */
    async completeOAuth(t: TestApp, landedAt: URL, verifier?: string) {
      const code = landedAt.searchParams.get('oauth_code');
      if (code) t.rememberSecret(code);
      const codeVerifier = verifier ?? sessionStorage(landedAt.origin).get(VERIFIER_KEY);
      if (codeVerifier === undefined) throw new Error('no code verifier kept in this browser');
      return gql(t, COMPLETE, { input: { code, codeVerifier } });
    },

    /**
     * Goes through an oidc-provider's own pages from `authorizationUrl`: signs in as `login`, then
     * consents (or aborts). Returns the first redirect that leaves for `stopAt` (our callback), unopened.
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
