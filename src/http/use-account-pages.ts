import { readdirSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { GraphQLObjectType, GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config/env.ts';
import { assetResponse, pageSecurityHeaders, prepareAsset, type StaticAsset } from './static-assets.ts';

// The account pages (ACCOUNT_PAGES): sign-in, the landings of the links we mail, and the account
// page, as plain HTML, CSS and ES modules under account-pages/assets/, with no build step. They are
// a client of the public GraphQL API like any other (fetch to /graphql, graphql-ws for
// sessionRevoked); this plugin only serves the files, with a strict CSP and no inline script.

const ASSETS_DIR = new URL('./account-pages/assets/', import.meta.url);
const ASSETS_PREFIX = '/account-pages/';

/** Page path -> HTML file. The /auth/* paths are those of the links mailed (API.md). */
const PAGES: Record<string, string> = {
  '/auth/sign-in': 'sign-in.html',
  '/auth/forgot-password': 'sign-in.html',
  '/auth/magic-link': 'landing.html',
  '/auth/email-code': 'landing.html',
  '/auth/reset-password': 'landing.html',
  '/auth/verify-email': 'landing.html',
  '/auth/oauth': 'landing.html',
  '/auth/second-factor': 'landing.html',
  '/account': 'account.html',
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** What a page needs to know that the API does not tell an anonymous client. */
export interface PageSettings {
  /** `cookie` when SESSION_COOKIE=true (the token stays in an HttpOnly cookie), else `bearer` (sessionStorage). */
  sessionMode: 'bearer' | 'cookie';
  devOutbox: boolean;
  /** The schema has the second-factor step (AuthPayload.secondFactorRequired, completeSecondFactor). */
  secondFactor: boolean;
  /** The schema has passkey sign-in (startPasskeySignIn, loginWithPasskey). */
  passkeys: boolean;
}

export function pageSettings(config: Pick<Config, 'sessionCookie' | 'devOutbox'>, schema: GraphQLSchema): PageSettings {
  const fields = (type: string) => (schema.getType(type) as GraphQLObjectType | undefined)?.getFields?.() ?? {};
  const mutations = fields('Mutation');
  return {
    sessionMode: config.sessionCookie ? 'cookie' : 'bearer',
    devOutbox: config.devOutbox,
    secondFactor: 'secondFactorRequired' in fields('AuthPayload') && 'completeSecondFactor' in mutations,
    passkeys: 'startPasskeySignIn' in mutations && 'loginWithPasskey' in mutations,
  };
}

const escapeAttribute = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** A Host header fit to be named in our CSP (else the page gets 'self' only). */
const PLAIN_HOST = /^[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/i;

/** The policy of every account page; the WebSocket of the account page goes to this same host. */
export function accountPagesCsp(host: string): string {
  const sockets = PLAIN_HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  return (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
    `connect-src 'self'${sockets}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`
  );
}

async function loadAssets(settings: PageSettings): Promise<Map<string, StaticAsset>> {
  const files = readdirSync(ASSETS_DIR).filter((name) => CONTENT_TYPES[extname(name)]);
  const settingsJson = escapeAttribute(JSON.stringify(settings));
  const loaded = await Promise.all(
    files.map(async (name) => {
      let content: string | Buffer = readFileSync(new URL(name, ASSETS_DIR));
      if (name.endsWith('.html')) content = content.toString('utf8').replace('%SETTINGS%', settingsJson);
      return [name, await prepareAsset(content, CONTENT_TYPES[extname(name)]!)] as const;
    }),
  );
  return new Map(loaded);
}

export function useAccountPages({ config, schema }: { config: Config; schema: GraphQLSchema }): Plugin {
  const assets = loadAssets(pageSettings(config, schema));
  return {
    // Synchronous for every other path: a GraphQL request pays no promise here.
    onRequest({ request, url, fetchAPI, endResponse }) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return;
      const path = url.pathname;
      if (path === '/') {
        // Which of sign-in and account is for the page to tell (the token is in the tab's storage).
        return endResponse(new fetchAPI.Response(null, { status: 302, headers: { location: `/account${url.search}`, 'cache-control': 'no-store' } }));
      }
      const page = PAGES[path.length > 1 ? path.replace(/\/$/, '') : path];
      const name = page ?? (path.startsWith(ASSETS_PREFIX) ? path.slice(ASSETS_PREFIX.length) : undefined);
      if (name === undefined) return;
      return assets.then((loaded) => {
        const asset = loaded.get(name);
        if (!asset || (!page && name.endsWith('.html'))) return endResponse(new fetchAPI.Response(null, { status: 404 }));
        const headers = page ? { ...pageSecurityHeaders(accountPagesCsp(url.host)), 'cache-control': 'no-cache' } : { 'cache-control': 'no-cache' };
        endResponse(assetResponse(fetchAPI.Response, request, asset, headers));
      });
    },
  };
}
