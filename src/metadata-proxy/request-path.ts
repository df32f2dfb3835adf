/**
 * Strict parsing of a request target. IMDS paths are plain ASCII words, so
 * anything that needs decoding or resolving (percent-encoding, `.` and `..`
 * segments, empty segments from `//`, backslashes, queries, absolute-form
 * targets) is refused outright rather than normalised: no spelling of a path
 * can then reach a different handler than the one it names literally.
 */
export interface RequestPath {
  /** The segments, none empty. */
  readonly segments: readonly string[];
  /** The target ended with `/` (a directory listing was asked for). */
  readonly trailingSlash: boolean;
}

export type PathResult = { readonly ok: true; readonly path: RequestPath } | { readonly ok: false; readonly reason: string };

export const MAX_PATH_LENGTH = 512;

// Letters, digits and the punctuation IMDS names use (role names: [\w+=,.@-], MACs: ':').
const ALLOWED = /^[A-Za-z0-9_.:@+=,/-]*$/;

export const parseRequestPath = (target: string | undefined): PathResult => {
  if (target === undefined || !target.startsWith('/')) return refuse('not an origin-form path');
  if (target.length > MAX_PATH_LENGTH) return refuse('path too long');
  if (!ALLOWED.test(target)) return refuse('path has characters outside the IMDS alphabet');
  const trailingSlash = target.length > 1 && target.endsWith('/');
  const body = target.slice(1, trailingSlash ? -1 : undefined);
  if (body === '') return { ok: true, path: { segments: [], trailingSlash: target === '/' } };
  const segments = body.split('/');
  for (const segment of segments) {
    if (segment === '') return refuse('empty path segment');
    if (segment === '.' || segment === '..') return refuse('dot segment');
  }
  return { ok: true, path: { segments, trailingSlash } };
};

const refuse = (reason: string): PathResult => ({ ok: false, reason });
