export { registryAuthConfigSchema, type RegistryAuthConfig } from './config.js';
export { RegistryAuth, RegistryAuthError, type PullCredentialSource, type TaskPullAuth } from './registry-auth.js';
export { engineAuthConfig, type RegistryCredentials } from './credentials.js';
export { parseDockerConfig, type DockerConfig } from './docker-config.js';
export { ecrRegionOf } from './ecr-token.js';
export { registryOf } from './registry-host.js';
