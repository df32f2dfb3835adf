/** The per-host metadata proxy (docs/metadata-proxy.md). */
export { metadataProxyConfigSchema, parseMetadataProxyConfig, type MetadataProxyConfig } from './config.js';
export { MetadataProxy, type MetadataProxyOptions, type ListenAddress } from './metadata-proxy.js';
export { InMemoryTaskDirectory } from './task-directory.js';
export { canonicalAddress } from './addresses.js';
export type { TaskIdentityInfo, TaskDirectory, TaskDirectoryEvents, TaskDirectoryListener, CredentialEvents, CredentialErrorDetail, RoleCredentials, Clock } from './types.js';
export { listenInNetns, type NetnsListenOptions } from './netns-listen.js';
export { StsRoleAssumer, AssumeRoleError, sessionNameFor, roleNameOf, type RoleAssumer, type AssumeRoleRequest, type HostCredentials } from './sts-assumer.js';
export { createIdentitySigner, loadIdentitySigner, verifyIdentitySignature, type IdentitySigner, type SignatureAlgorithmName } from './identity-signer.js';
export { identityTypes, signedTaskIdentity, type TaskIdentityJson } from './identity-document.js';
export { metadataProxyNftScript, metadataProxyNftTeardown, IMDS_IPV4, IMDS_IPV6, type MetadataNftOptions } from './nftables.js';
