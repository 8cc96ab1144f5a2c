// Starts GraphiQL from files served by Portcullis itself (no CDN, no inline script): the options
// come from a JSON block of the page, Monaco's workers from the same versioned folder as this file.
const base = new URL('.', import.meta.url).pathname;
const workers = { editorWorkerService: 'editor-worker.js', json: 'json-worker.js', graphql: 'graphql-worker.js' };
self.MonacoEnvironment = {
  globalAPI: false,
  getWorkerUrl: (_moduleId, label) => base + (workers[label] ?? workers.editorWorkerService),
};
const options = JSON.parse(document.getElementById('graphiql-options').textContent);
YogaGraphiQL.renderYogaGraphiQL(document.getElementById('root'), options);
