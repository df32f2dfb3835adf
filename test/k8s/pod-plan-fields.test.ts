/**
 * Pod fields the plan turns into launch fields, without an engine:
 * ephemeral-storage is the task's disk, readOnlyRootFilesystem and
 * activeDeadlineSeconds reach the launch and the plan.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/config.js';
import { planPod } from '../../src/k8s/pod-plan.js';
import { createRequestSchema } from '../../src/k8s/pod-schema.js';

const defaults = parseConfig({}).defaultResources;

t.test('ephemeral-storage, readOnlyRootFilesystem and activeDeadlineSeconds reach the plan', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-plan-fields-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const req = createRequestSchema.parse({
    pod: {
      metadata: { name: 'p', namespace: 'default', uid: '0c3b7a52-3c0e-4f43-9d0e-6a1e2f1b7c99' },
      spec: {
        activeDeadlineSeconds: 30,
        containers: [
          { name: 'a', image: 'busybox', resources: { limits: { 'ephemeral-storage': '2Gi' } }, securityContext: { readOnlyRootFilesystem: true } },
          { name: 'b', image: 'busybox', resources: { requests: { 'ephemeral-storage': '1G' } } },
          { name: 'c', image: 'busybox' },
        ],
      },
    },
  });
  const plan = await planPod(req, dir, defaults);
  t.equal(plan.activeDeadlineSeconds, 30);
  const [a, b, c] = plan.containers;
  t.equal(a?.launch.resources.diskMb, 2048, 'limits: 2Gi is 2048 MiB');
  t.equal(b?.launch.resources.diskMb, Math.ceil(1e9 / 1024 / 1024), 'requests when there is no limit, rounded up');
  t.equal(c?.launch.resources.diskMb, defaults.diskMb, 'none: the default');
  t.equal(a?.launch.readOnlyRootFilesystem, true);
  t.equal(b?.launch.readOnlyRootFilesystem, undefined);
  t.equal(createRequestSchema.safeParse({ pod: { ...req.pod, spec: { ...req.pod.spec, activeDeadlineSeconds: 0 } } }).success, false, 'a deadline of 0 is refused, as by the API server');
});
