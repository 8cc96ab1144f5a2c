import type { IncomingMessage, ServerResponse } from 'node:http';
import { toErrorBody } from '../kernel/errors.ts';
import { json } from './json-answer.ts';

const JSON_MEDIA_TYPES = new Set(['application/json', 'application/graphql-response+json']);

/**
 * Only JSON bodies run (API.md): a form (urlencoded or multipart) or text/plain POST is what a
 * cross-site page can send without a CORS preflight, so in cookie mode it would act in the
 * visitor's name. Any other or missing content type gets 415 before the body is read. Applied to
 * every POST that reaches GraphQL, whatever spelling of its path yoga would accept. An accepted
 * type is handed on as plain application/json: yoga matches it case-sensitively and has no parser
 * for the graphql-response+json spelling, and reads every JSON body as UTF-8 anyway.
 */
export function refuseNonJsonBody(req: IncomingMessage, res: ServerResponse, requestId: string): boolean {
  if (req.method !== 'POST') return false;
  const mediaType = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (JSON_MEDIA_TYPES.has(mediaType)) {
    req.headers['content-type'] = 'application/json';
    return false;
  }
  const status = 415;
  json(res, status, toErrorBody('BAD_USER_INPUT', 'Request bodies must be application/json', { requestId, status }));
  req.resume();
  return true;
}
