import type { CodegenConfig } from '@graphql-codegen/cli';

// Typed documents for frontends: `npm run codegen` turns operations/*.graphql into
// operations/generated/, checked against the committed schema.graphql.
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['operations/**/*.graphql'],
  ignoreNoDocuments: false,
  importExtension: '.ts',
  generates: {
    'operations/generated/': {
      preset: 'client',
      config: { useTypeImports: true, enumsAsTypes: true, scalars: { DateTime: 'string' } },
      presetConfig: { fragmentMasking: false },
    },
  },
};

export default config;
