/**
 * The recorded Titus pods (test/fixtures/titus-pods/*.json), and the edits a
 * test makes to run one here: a unique task id (the pod's name), and the
 * harness's busybox instead of the recorded registry's image.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadExecutorProto } from '../../src/api/proto.js';

export const POD_FIXTURES = ['batch-job', 'service-job', 'gpu-job', 'role-and-passthrough', 'container-info-v0'] as const;
export type PodFixture = (typeof POD_FIXTURES)[number];

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string>; [k: string]: unknown };
  spec: { containers: Array<Record<string, unknown> & { image: string }>; [k: string]: unknown };
  status?: Record<string, unknown>;
}

export const readPodFixture = (name: PodFixture): Pod =>
  JSON.parse(readFileSync(fileURLToPath(new URL(`../fixtures/titus-pods/${name}.json`, import.meta.url)), 'utf8')) as Pod;

/** The fixture, named `taskId`, running `image` (in the containerInfo annotation too, for the schema-0 pod). */
export const runnablePod = (name: PodFixture, taskId: string, image: string): Pod => {
  const pod = readPodFixture(name);
  pod.metadata.name = taskId;
  const container = pod.spec.containers[0];
  if (container !== undefined) container.image = image;
  const annotations = pod.metadata.annotations ?? {};
  const encoded = annotations['containerInfo'];
  if (encoded !== undefined) {
    const proto = loadExecutorProto();
    const info = proto.decodeContainerInfo(Buffer.from(encoded, 'base64')) as unknown as Record<string, unknown>;
    const at = image.indexOf('@');
    const colon = image.lastIndexOf(':');
    const repo = at >= 0 ? image.slice(0, at) : colon > image.lastIndexOf('/') ? image.slice(0, colon) : image;
    const version = at < 0 && colon > image.lastIndexOf('/') ? image.slice(colon + 1) : 'latest';
    annotations['containerInfo'] = Buffer.from(proto.encodeContainerInfo({ ...info, fullyQualifiedImage: repo, version })).toString('base64');
  }
  return pod;
};
