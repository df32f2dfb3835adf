/**
 * Registry host names as Docker derives and matches them: the first path
 * component of a repository is a registry only when it has a dot or a port or
 * is `localhost`; otherwise the image is on Docker Hub.
 */
export const DOCKER_HUB = 'docker.io';
/** The key Docker's own config.json and credential helpers use for Docker Hub. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

export const registryOf = (repository: string): string => {
  const slash = repository.indexOf('/');
  if (slash < 0) return DOCKER_HUB;
  const first = repository.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost') return HUB_ALIASES.has(first) ? DOCKER_HUB : first;
  return DOCKER_HUB;
};

/** A config.json `auths` key (`https://host/v1/`, `http://host:port`, `host`) as a host[:port]. */
export const hostOfAuthKey = (key: string): string => {
  const host = key.replace(/^[a-z]+:\/\//i, '').split('/')[0] ?? '';
  return HUB_ALIASES.has(host) ? DOCKER_HUB : host;
};

/** The server URL a credential helper is asked about, as the Docker CLI asks it. */
export const helperServerUrl = (registry: string): string => (registry === DOCKER_HUB ? DOCKER_HUB_AUTH_KEY : registry);
