/**
 * Bandwidth limits measured end to end through a real task container: the
 * task is one end of each transfer (busybox nc), a node process in the test's
 * host namespace the other, timing the transfer. HTB counts whole frames, so
 * TCP payload goodput sits a few per cent under the configured rate.
 */
import t from 'tap';
import { useHarness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId } from '../helpers/executor.js';
import { namesForTask } from '../../src/vpc/naming.js';
import { createHostNetns, inNs, leftovers, localNetwork, ncReceive, NOTHING_LEFT, runningAddress, sendTo, startReceiver } from './fixtures/tasks.js';

const LIMIT_MBPS = 20;
const SECONDS = 3;
const LIMITED_BYTES = (LIMIT_MBPS * 1e6 * SECONDS) / 8;
const TOLERANCE = 0.25;
const GATEWAY = '198.18.20.1';

t.test('a task limited to 20 Mbps gets 20 Mbps both ways; an unlimited one is faster', async (t) => {
  const h = await useHarness(t);
  const hostNs = await createHostNetns(t);
  // Tasks that ask for no bandwidth get the default, 0 here: unlimited.
  const ex = await startTestExecutor(t, h, { network: localNetwork(hostNs), defaultResources: { networkMbps: 0 } });
  const image = h.images.busyboxRepo;

  // The limited task receives first (ingress), then sends (egress) to a receiver already listening.
  const egressReceiver = await startReceiver(hostNs, '0.0.0.0', 9101, LIMITED_BYTES);
  t.teardown(egressReceiver.stop);
  const limited = uniqueTaskId('bw-limited');
  await ex.launch({
    taskId: limited,
    containerInfo: { fullyQualifiedImage: image, process: { entrypoint: ['/bin/sh', '-c'], command: [`${ncReceive(9100)}; nc ${GATEWAY} 9101 </dev/zero; exit 0`] } },
    resources: { networkMbps: LIMIT_MBPS },
  });
  const address = await runningAddress(ex, limited);
  const names = namesForTask(limited);
  const classes = await inNs(hostNs, ['tc', 'class', 'show', 'dev', names.hostVeth]);
  t.match(classes, /class htb 1:10 parent 1:1 .*rate 20Mbit ceil 20Mbit/, 'HTB class on the host veth');
  t.match(await inNs(hostNs, ['tc', 'class', 'show', 'dev', names.ifb]), /class htb 1:10 .*rate 20Mbit/, 'and on its IFB');

  const ingress = await sendTo(hostNs, address, 9100, LIMITED_BYTES);
  t.comment(`limited task ingress: ${ingress.mbps.toFixed(2)} Mbps (${ingress.bytes} bytes in ${ingress.ms.toFixed(0)} ms)`);
  t.ok(Math.abs(ingress.mbps - LIMIT_MBPS) <= LIMIT_MBPS * TOLERANCE, `ingress ${ingress.mbps.toFixed(2)} Mbps within ±25 % of ${LIMIT_MBPS}`);
  const egress = await egressReceiver.result;
  t.comment(`limited task egress: ${egress.mbps.toFixed(2)} Mbps (${egress.bytes} bytes in ${egress.ms.toFixed(0)} ms)`);
  t.ok(Math.abs(egress.mbps - LIMIT_MBPS) <= LIMIT_MBPS * TOLERANCE, `egress ${egress.mbps.toFixed(2)} Mbps within ±25 % of ${LIMIT_MBPS}`);
  t.equal((await ex.waitForState(limited, 'terminal')).at(-1)?.state, 'TASK_STATE_FINISHED');

  // Bursting: the task may borrow up to the ceiling (burstCeilMbps, default the host's bandwidthMbpsTotal).
  const bursting = uniqueTaskId('bw-burst');
  await ex.launch({
    taskId: bursting,
    containerInfo: { fullyQualifiedImage: image, allowNetworkBursting: true, process: { command: ['sleep', '30'] } },
    resources: { networkMbps: LIMIT_MBPS },
  });
  await runningAddress(ex, bursting);
  t.match(await inNs(hostNs, ['tc', 'class', 'show', 'dev', namesForTask(bursting).hostVeth]), /class htb 1:10 parent 1:1 .*rate 20Mbit ceil 1Gbit/, 'allowNetworkBursting raises the ceiling');
  await ex.kill(bursting, 0);
  await ex.waitForState(bursting, 'terminal');

  const fastBytes = 50_000_000;
  const fastReceiver = await startReceiver(hostNs, '0.0.0.0', 9102, fastBytes);
  t.teardown(fastReceiver.stop);
  const unlimited = uniqueTaskId('bw-free');
  await ex.launch({
    taskId: unlimited,
    containerInfo: { fullyQualifiedImage: image, process: { entrypoint: ['/bin/sh', '-c'], command: [`nc ${GATEWAY} 9102 </dev/zero; exit 0`] } },
  });
  const fast = await fastReceiver.result;
  t.comment(`unlimited task egress: ${fast.mbps.toFixed(0)} Mbps`);
  t.ok(fast.mbps > LIMIT_MBPS * 5, 'an unlimited task is much faster');
  t.equal((await ex.waitForState(unlimited, 'terminal')).at(-1)?.state, 'TASK_STATE_FINISHED');
  t.same(await leftovers(h, ex, hostNs), NOTHING_LEFT, 'nothing left');
});
