/**
 * Launch overhead of a networked task: a second executor process with the
 * local network driver (sandbox, veth pair, HTB both ways, an nft table per
 * task) in a namespace the bench creates, against the same raw create+start
 * as the plain launch row, interleaved the same way. The first launch is a
 * warm-up that also imports the pause image.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { BenchOptions } from './args.js';
import { createBenchNetns } from './bench-netns.js';
import { BenchExecutorClient, type BenchImage } from './executor-client.js';
import { startExecutorProcess, type ExecutorProcess } from './executor-process.js';
import { measureLaunches, type LaunchSamples } from './measure-launch.js';
import type { RawTemplate } from './raw-container.js';
import { StatusWatch } from './status-watch.js';

/** Every bench task is a 128 Mbps task (launchRequest), so the total only has to be large. */
export const networkedConfig = (hostNetns: string): Record<string, unknown> => ({
  network: {
    driver: 'local',
    local: {
      hostNetns,
      ipv4Cidr: '198.18.0.0/16',
      bandwidthMbpsTotal: 1_000_000,
      securityGroups: { 'sg-open': { ingress: [{ protocol: 'tcp', cidrs: ['0.0.0.0/0'] }], egress: 'allow-all' } },
      defaultSecurityGroups: ['sg-open'],
    },
  },
});

export const measureNetworkedLaunches = async (
  opts: Pick<BenchOptions, 'launches' | 'warmups'>,
  run: { dockerHost: string; executorId: string; docker: Docker; template: RawTemplate; image: BenchImage },
  onProgress: (done: number, total: number) => void = () => undefined,
  log: (line: string) => void = () => undefined,
): Promise<LaunchSamples> => {
  const netns = await createBenchNetns();
  log(`  host namespace ${netns.name} (deleted afterwards)`);
  const workDir = mkdtempSync(join(tmpdir(), 'titus-bench-net-'));
  let proc: ExecutorProcess | undefined;
  let watch: StatusWatch | undefined;
  const failures: unknown[] = [];
  let samples: LaunchSamples | undefined;
  try {
    proc = await startExecutorProcess(workDir, run.dockerHost, run.executorId, networkedConfig(netns.name));
    watch = await StatusWatch.open(proc.client);
    const ex = new BenchExecutorClient(proc.client, watch, run.image);
    samples = await measureLaunches(ex, run.docker, run.template, opts, onProgress);
    // Every task was KILLED, and the terminal update comes after the network is released.
    const left = await netns.leftovers();
    if (left.length > 0) throw new Error(`the networked executor left ${left.join(', ')} in ${netns.name}`);
  } catch (err) {
    failures.push(err);
  } finally {
    watch?.close();
    await proc?.stop().catch((err: unknown) => failures.push(err));
    rmSync(workDir, { recursive: true, force: true });
    await netns.remove().catch((err: unknown) => failures.push(err));
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, 'networked launches failed');
  if (samples === undefined) throw new Error('networked launches measured nothing');
  return samples;
};
