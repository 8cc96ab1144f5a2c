// The baseline of bench/me-throughput.ts: a bare graphql-yoga server answering `{ hello }`.
import { createServer } from 'node:http';
import { createSchema, createYoga } from 'graphql-yoga';

const yoga = createYoga({
  schema: createSchema({ typeDefs: 'type Query { hello: String! }', resolvers: { Query: { hello: () => 'world' } } }),
  logging: false,
  landingPage: false,
});
createServer(yoga).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'));
