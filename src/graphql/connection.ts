import type { Page } from '../kernel/pagination.ts';
import { builder } from './builder.ts';

// The PageInfo of every connection (API.md): forward pagination only, so just `hasNextPage` and
// `endCursor`. Connections resolve it from the service's page itself.

export const PageInfo = builder.objectRef<Page<unknown>>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    endCursor: t.exposeString('endCursor', { nullable: true, description: 'Pass as `after` for the next page' }),
  }),
});
