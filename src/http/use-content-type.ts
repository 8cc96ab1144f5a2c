import type { Logger } from '../platform/logger.ts';
import { refusal, routePlugin, type ServerPlugin } from './route.ts';

const JSON_MEDIA_TYPES = new Set(['application/json', 'application/graphql-response+json']);

/**
 * Only JSON bodies run (API.md): a form (urlencoded or multipart) or text/plain POST is what a
 * cross-site page can send without a CORS preflight, so in cookie mode it would act in the
 * visitor's name. Any other or missing content type gets 415 before the body is read. Applied to
 * every POST that reaches GraphQL, whatever spelling of its path yoga would accept. An accepted
 * type is handed on as plain application/json: yoga matches it case-sensitively and has no parser
 * for the graphql-response+json spelling, and reads every JSON body as UTF-8 anyway.
 */
export function useContentType(log: Logger): ServerPlugin {
  return routePlugin(log, ({ request, req }) => {
    if (request.method !== 'POST') return undefined;
    const mediaType = (request.headers.get('content-type') ?? '').split(';', 1)[0]!.trim().toLowerCase();
    if (JSON_MEDIA_TYPES.has(mediaType)) {
      request.headers.set('content-type', 'application/json');
      return undefined;
    }
    req.resume();
    return refusal(415, 'Request bodies must be application/json');
  });
}
