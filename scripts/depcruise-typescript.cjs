// Babel config that lets dependency-cruiser read our TypeScript: it supports typescript < 7 only, and
// this project runs typescript 7 (no JS API). Node strips the types (the code is erasable-syntax only);
// each type-only import becomes a `typeOnlyImport('...')` call, which the cruiser records as an exotic
// require, so rules can still tell a type import from a runtime one.
const { stripTypeScriptTypes } = require('node:module');

function isTypeOnly(node) {
  if (node.importKind === 'type' || node.exportKind === 'type') return true;
  const specifiers = node.specifiers ?? [];
  return specifiers.length > 0 && specifiers.every((s) => s.importKind === 'type' || s.exportKind === 'type');
}

const moduleLinks = new Set(['ImportDeclaration', 'ExportNamedDeclaration', 'ExportAllDeclaration']);

function stripTypesKeepingTypeImports(code) {
  const emitWarning = process.emitWarning;
  // stripTypeScriptTypes is marked experimental and says so on every run.
  process.emitWarning = () => {};
  try {
    return stripTypeScriptTypes(code);
  } finally {
    process.emitWarning = emitWarning;
  }
}

function typescriptAsJavaScript() {
  return {
    parserOverride(code, parserOptions, parse) {
      const typed = parse(code, { ...parserOptions, sourceType: 'module', plugins: ['typescript'] });
      const typeOnlySources = typed.program.body
        .filter((node) => moduleLinks.has(node.type) && node.source && isTypeOnly(node))
        .map((node) => `typeOnlyImport(${JSON.stringify(node.source.value)});`);
      const javascript = `${stripTypesKeepingTypeImports(code)}\n${typeOnlySources.join('\n')}`;
      return parse(javascript, { ...parserOptions, sourceType: 'module' });
    },
  };
}

module.exports = { babelrc: false, configFile: false, plugins: [typescriptAsJavaScript] };
