import { invalidArgument } from '../common/errors.js';

/**
 * Docker image references (the distribution/reference grammar): a name, then a
 * tag or a digest. The executor builds them from ContainerInfo and refuses a
 * malformed one before anything is created.
 */
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$/;

export interface ImageRef {
  /** Repository, including any registry: `127.0.0.1:5000/org/app`. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
  /** The full reference passed to the engine. */
  readonly ref: string;
}

export interface ImageFields {
  readonly imageName?: string | undefined;
  readonly fullyQualifiedImage?: string | undefined;
  readonly version?: string | undefined;
  readonly imageDigest?: string | undefined;
}

/**
 * As Docker decides: the first component is a registry host only when it has a
 * dot or a port, or is `localhost`; otherwise the whole name is a lower-case path.
 */
export const isValidImageName = (name: string): boolean => {
  if (name.length > 255) return false;
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    return DOMAIN_RE.test(first) && hasValidPort(first) && PATH_RE.test(name.slice(slash + 1));
  }
  return PATH_RE.test(name);
};

/** A registry's port, when it has one, is a TCP port: 1-65535 (the grammar alone takes any digits). */
const hasValidPort = (domain: string): boolean => {
  const colon = domain.lastIndexOf(':');
  if (colon < 0) return true;
  const port = Number(domain.slice(colon + 1));
  return port >= 1 && port <= 65535;
};

/**
 * The image reference for a task: `fullyQualifiedImage`, else `<registry>/<imageName>`,
 * then `@<imageDigest>` (the digest wins) or `:<version>` (proto2 default "latest").
 */
export const imageRefFor = (fields: ImageFields, registry: string): ImageRef => {
  const base = baseName(fields, registry);
  if (!isValidImageName(base)) {
    const field = nonEmpty(fields.fullyQualifiedImage) ? 'containerInfo.fullyQualifiedImage' : 'containerInfo.imageName';
    throw invalidArgument(field, `"${base}" is not a valid image name (lower-case repository, optional registry host:port with a port of 1-65535)`);
  }
  if (nonEmpty(fields.imageDigest)) {
    if (!DIGEST_RE.test(fields.imageDigest)) {
      throw invalidArgument('containerInfo.imageDigest', `"${fields.imageDigest}" is not a digest (expected sha256:<64 hex>)`);
    }
    return { repository: base, digest: fields.imageDigest, ref: `${base}@${fields.imageDigest}` };
  }
  const tag = nonEmpty(fields.version) ? fields.version : 'latest';
  if (!TAG_RE.test(tag)) {
    throw invalidArgument('containerInfo.version', `"${tag}" is not a valid image tag`);
  }
  return { repository: base, tag, ref: `${base}:${tag}` };
};

const baseName = (fields: ImageFields, registry: string): string => {
  if (nonEmpty(fields.fullyQualifiedImage)) return fields.fullyQualifiedImage;
  if (!nonEmpty(fields.imageName)) {
    throw invalidArgument('containerInfo.imageName', 'an image is required (imageName or fullyQualifiedImage)');
  }
  const reg = registry.replace(/\/+$/, '');
  return reg === '' ? fields.imageName : `${reg}/${fields.imageName}`;
};

const nonEmpty = (s: string | undefined): s is string => s !== undefined && s !== '';
