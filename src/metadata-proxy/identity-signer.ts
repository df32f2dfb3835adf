import { createPrivateKey, createPublicKey, sign, verify, X509Certificate, constants, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ExecutorError } from '../common/errors.js';

/** The names of identity.proto's SignatureAlgorithm the proxy uses. */
export type SignatureAlgorithmName = 'SHA512withECDSA' | 'SHA512withRSAandMGF1';

/** RSA-PSS salt length: 20 bytes, what Titus' verifiers (Java's PSS default) expect. */
export const RSA_PSS_SALT_LENGTH = 20;

export interface IdentitySigner {
  readonly algorithm: SignatureAlgorithmName;
  /** SubjectPublicKeyInfo PEM, published at /nflx/v1/task-identity/public-key. */
  readonly publicKeyPem: string;
  /** DER certificates (signer first), when a chain was configured. */
  readonly certChainDer: readonly Buffer[];
  sign(data: Uint8Array): Buffer;
}

/**
 * A signer for task identity documents from a host key: ECDSA (P-256 or
 * P-384; DER signatures, as Java produces) or RSA (PSS with MGF1), both with
 * SHA-512 as Titus signs.
 */
export const createIdentitySigner = (privateKey: KeyObject, certChainPem?: string): IdentitySigner => {
  const algorithm = algorithmFor(privateKey);
  const certChainDer = certChainPem === undefined ? [] : parseCertificateChain(certChainPem, privateKey);
  return {
    algorithm,
    publicKeyPem: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString(),
    certChainDer,
    sign: (data) => sign('sha512', data, signOptions(privateKey, algorithm)),
  };
};

export const loadIdentitySigner = (keyFile: string, certificateChainFile?: string): IdentitySigner => {
  const read = (file: string, what: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new ExecutorError('FAILED_PRECONDITION', `metadata proxy: cannot read the identity ${what} ${file}: ${(err as Error).message}`);
    }
  };
  let key: KeyObject;
  try {
    key = createPrivateKey(read(keyFile, 'signing key'));
  } catch (err) {
    if (err instanceof ExecutorError) throw err;
    throw new ExecutorError('FAILED_PRECONDITION', `metadata proxy: ${keyFile} is not a PEM private key`);
  }
  return createIdentitySigner(key, certificateChainFile === undefined ? undefined : read(certificateChainFile, 'certificate chain'));
};

/** Checks a document's signature the way a verifier would (tests, tools). */
export const verifyIdentitySignature = (publicKeyPem: string, algorithm: SignatureAlgorithmName, data: Uint8Array, signature: Uint8Array): boolean => {
  const key = createPublicKey(publicKeyPem);
  return verify('sha512', data, signOptions(key, algorithm), signature);
};

const algorithmFor = (key: KeyObject): SignatureAlgorithmName => {
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve !== 'prime256v1' && curve !== 'secp384r1') {
      throw new ExecutorError('FAILED_PRECONDITION', `metadata proxy: identity key curve ${curve ?? '?'} is not P-256 or P-384`);
    }
    return 'SHA512withECDSA';
  }
  if (type === 'rsa') return 'SHA512withRSAandMGF1';
  throw new ExecutorError('FAILED_PRECONDITION', `metadata proxy: identity key type ${type ?? '?'} is neither EC nor RSA`);
};

const signOptions = (key: KeyObject, algorithm: SignatureAlgorithmName) =>
  algorithm === 'SHA512withRSAandMGF1'
    ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: RSA_PSS_SALT_LENGTH }
    : { key, dsaEncoding: 'der' as const };

const parseCertificateChain = (pem: string, key: KeyObject): Buffer[] => {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new ExecutorError('FAILED_PRECONDITION', 'metadata proxy: the identity certificate chain has no certificate');
  const certs = blocks.map((b) => new X509Certificate(b));
  if (!certs[0]?.checkPrivateKey(key)) {
    throw new ExecutorError('FAILED_PRECONDITION', 'metadata proxy: the first identity certificate does not match the signing key');
  }
  return certs.map((c) => c.raw);
};
