import type { ContainerInfo } from './container-info.js';

/** `repo[:tag][@digest]` to ContainerInfo's fields; the digest wins, as in Docker. */
export const imageFields = (image: string): Pick<ContainerInfo, 'fullyQualifiedImage' | 'version' | 'imageDigest'> => {
  const at = image.indexOf('@');
  let name = at >= 0 ? image.slice(0, at) : image;
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const colon = name.lastIndexOf(':');
  let tag: string | undefined;
  if (colon > name.lastIndexOf('/')) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  return { fullyQualifiedImage: name, ...(tag !== undefined ? { version: tag } : {}), ...(digest !== undefined ? { imageDigest: digest } : {}) };
};
