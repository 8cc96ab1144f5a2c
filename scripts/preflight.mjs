// Guards against a silent fall-back to the system Node (e.g. install scripts skipped): the project
// needs Node 24, which the `node` devDependency provides to every npm script.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `Portcullis needs Node 24 or newer; this is ${process.version}. Run it through npm (npm start, npm test), ` +
      'which uses the Node 24 installed by the `node` devDependency; if that is missing, run `npm ci` again.',
  );
  process.exit(1);
}
