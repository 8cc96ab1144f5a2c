// The arrows of ../shared/DESIGN.md ("Layout", "Rules of the house"), checked by `npm run check:deps`.
// TypeScript is read through scripts/depcruise-typescript.cjs: type-only imports arrive as the exotic
// require `typeOnlyImport` (the only exotic require we declare), so a rule can allow them.
const RUNTIME_ONLY = { dependencyTypesNot: ['exotic-require'] };

const rules = [
  {
    name: 'no-circular',
    comment: 'No import circle anywhere in src/, type-only imports included.',
    from: { path: '^src/' },
    to: { circular: true },
  },
  {
    name: 'platform-imports-no-feature',
    comment: 'platform/ holds adapters only: it knows no module, no GraphQL layer, no HTTP routes.',
    from: { path: '^src/platform/' },
    to: { path: '^src/(modules|graphql|http)/' },
  },
  {
    name: 'kernel-imports-only-platform-types',
    comment: 'kernel/ is the shared vocabulary: it imports itself and the types of platform/, nothing else of src/.',
    from: { path: '^src/kernel/' },
    to: { path: '^src/', pathNot: '^src/(kernel|platform)/' },
  },
  {
    name: 'kernel-imports-no-platform-runtime',
    comment: 'kernel/ may name platform types, never run platform code.',
    from: { path: '^src/kernel/' },
    to: { path: '^src/platform/', ...RUNTIME_ONLY },
  },
  {
    name: 'services-know-no-graphql',
    comment: 'A service (a module file that is not *.schema.ts) never imports GraphQL; HTTP routes live in http/.',
    from: { path: '^src/modules/', pathNot: '[.]schema[.]ts$' },
    to: { path: ['^src/graphql/', '(^|/)node_modules/(graphql|graphql-yoga|@pothos/[^/]+)/'] },
  },
  {
    name: 'schema-files-touch-no-storage',
    comment: 'A *.schema.ts parses arguments, calls a service, maps the result: no Prisma client, Redis, SQL or queue at run time.',
    from: { path: '[.]schema[.]ts$' },
    to: {
      path: ['^src/platform/(db|redis|queue)[.]ts$', '^src/generated/prisma/', '(^|/)node_modules/(@prisma/client|ioredis|pg|pg-boss)/'],
      ...RUNTIME_ONLY,
    },
  },
  {
    name: 'config-imports-no-module',
    comment: 'config/ declares settings; the modules read it, never the other way round.',
    from: { path: '^src/config/' },
    to: { path: '^src/modules/' },
  },
];

module.exports = {
  forbidden: rules.map((rule) => ({ severity: 'error', ...rule })),
  options: {
    doNotFollow: { path: '(^|/)node_modules/' },
    exclude: { path: '^src/generated/' },
    // Absolute, so that the check of the check (test/unit/code-checks.test.ts) can cruise a fixture elsewhere.
    babelConfig: { fileName: require('node:path').join(__dirname, 'scripts/depcruise-typescript.cjs') },
    exoticRequireStrings: ['typeOnlyImport'],
    enhancedResolveOptions: {
      // .ts among them, so that the cruiser follows our imports into the files they name.
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
