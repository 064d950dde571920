// What client-node's dist/config.js imports from its generated API index (`./gen/index.js`), taken from the files
// that define them; process-setup.ts hands config.js this module instead of the index. process-setup.test.ts
// checks that config.js still imports exactly these names.
export { createConfiguration } from '@kubernetes/client-node/dist/gen/configuration.js';
export { ServerConfiguration } from '@kubernetes/client-node/dist/gen/servers.js';
