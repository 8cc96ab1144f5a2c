// A service behind Portcullis that trusts its users through access tokens alone: it fetches the
// public keys once from the JWKS (cached, re-fetched when a token names an unknown key) and
// verifies each token locally, with no call to Portcullis per request.
//
//   PORTCULLIS_URL=https://auth.example.com AUDIENCE=https://api.example.com PORT=5000 \
//     node examples/resource-server/server.ts
//
// A token is only as fresh as its `exp`: a service that must drop a user the moment a session is
// revoked also subscribes to `sessionRevoked` (README "Access tokens").
import { createServer, type Server } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';

export interface ResourceServerOptions {
  /** Portcullis' PUBLIC_URL: the `iss` every token must carry. */
  issuer: string;
  /** The `aud` this service accepts (what it asks `issueAccessToken` for; default: the issuer). */
  audience?: string;
  /** Where to fetch the keys, when Portcullis is reached by another address than its public one. */
  jwksUrl?: string;
}

export function createResourceServer({ issuer, audience = issuer, jwksUrl = `${issuer}/.well-known/jwks.json` }: ResourceServerOptions): Server {
  const keys = createRemoteJWKSet(new URL(jwksUrl));
  return createServer(async (req, res) => {
    const token = /^Bearer ([\w.-]+)$/.exec(req.headers.authorization ?? '')?.[1];
    try {
      if (!token) throw new Error('no bearer token');
      const { payload } = await jwtVerify(token, keys, { issuer, audience, algorithms: ['ES256'], typ: 'at+jwt' });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sub: payload.sub, role: payload.role }));
    } catch {
      res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
    }
  });
}

if (import.meta.main) {
  const issuer = process.env.PORTCULLIS_URL ?? 'http://localhost:4000';
  const server = createResourceServer({ issuer, audience: process.env.AUDIENCE, jwksUrl: process.env.JWKS_URL });
  server.listen(Number(process.env.PORT ?? 5000), process.env.HOST ?? '127.0.0.1', () => console.log(`listening on ${JSON.stringify(server.address())}`));
}
