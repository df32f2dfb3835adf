/**
 * The AWS SDK modules the log upload uses, imported on first use: an executor
 * without log upload (or with nothing to upload yet) never loads them, which
 * keeps some tens of MiB out of its resident memory (issue 15).
 */
import type * as S3Sdk from '@aws-sdk/client-s3';
import type * as StsSdk from '@aws-sdk/client-sts';

let s3: Promise<typeof S3Sdk> | undefined;
let sts: Promise<typeof StsSdk> | undefined;

export const loadS3Sdk = (): Promise<typeof S3Sdk> => (s3 ??= import('@aws-sdk/client-s3'));
export const loadStsSdk = (): Promise<typeof StsSdk> => (sts ??= import('@aws-sdk/client-sts'));
