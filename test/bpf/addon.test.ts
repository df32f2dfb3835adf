import t from 'tap';
import { PEER_IPV4, Receiver, SPOOFED_IPV4, TASK_IPV4, TASK_IPV6, addSpoofedAddresses, createTopology, sendUdp, tcFilters, token } from './fixtures/topology.js';
import { filterFor, packetFilterSuite, skipReason } from './fixtures/suite.js';

/** The native addon path (libbpf in-process), forced with mode 'addon'. */
const skip = (await skipReason('addon')) ?? (await skipReason('tc'));
if (skip !== undefined) {
  t.plan(0, `addon path not testable here: ${skip}`);
} else {
  packetFilterSuite(t, 'addon');

  // After an executor restart the other path may be in use: the filter is the same either way.
  void t.test('either path finds, updates and removes what the other attached', async (t) => {
    const topology = await createTopology(t);
    const peer = await Receiver.start(t, topology.peer, [{ address: PEER_IPV4, port: 9000 }]);
    await addSpoofedAddresses(topology);
    const addon = await filterFor('addon', topology.host);
    const tc = await filterFor('tc', topology.host);

    await addon.attach(topology.hostVeth, { ipv4s: [TASK_IPV4], ipv6s: [TASK_IPV6] });
    const seenByTc = await tc.inspect(topology.hostVeth);
    t.equal(seenByTc?.progName, 'titus_egress', 'tc sees the addon-attached filter');
    await tc.update(topology.hostVeth, { ipv4s: [TASK_IPV4, SPOOFED_IPV4], ipv6s: [TASK_IPV6] });
    const viaTcUpdate = token('tc-update');
    await sendUdp(topology.task, SPOOFED_IPV4, PEER_IPV4, 9000, viaTcUpdate);
    t.ok(await peer.waitFor(viaTcUpdate), "tc's update reached the addon's maps");
    await tc.detach(topology.hostVeth);
    t.same(await tcFilters(topology.host, topology.hostVeth, 'ingress'), [], 'tc removed the addon-attached filter');

    await tc.attach(topology.hostVeth, { ipv4s: [TASK_IPV4], ipv6s: [TASK_IPV6] });
    const seenByAddon = await addon.inspect(topology.hostVeth);
    t.equal(seenByAddon?.progName, 'titus_egress', 'the addon sees the tc-attached filter');
    t.equal(seenByAddon?.progId, (await tc.inspect(topology.hostVeth))?.progId, 'the same program');
    await addon.detach(topology.hostVeth);
    t.same(await tcFilters(topology.host, topology.hostVeth, 'ingress'), [], 'the addon removed the tc-attached filter');
  });
}
