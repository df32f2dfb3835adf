/**
 * Test images made without the internet: a busybox rootfs built from the
 * host's static /bin/busybox, imported with different configs, pushed to the
 * harness registry, then removed from the engine so tests do real pulls.
 */
import { chmod, copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, type CommandResult } from '../../src/common/command-runner.js';
import type { DockerOptions } from './dockerd.js';
import { buildImage } from './engine-api.js';

export interface TestImages {
  readonly busybox: string;
  readonly busyboxRepo: string;
  readonly busyboxDigest: string;
  readonly byDigestOnly: string;
  readonly byDigestOnlyRepo: string;
  readonly byDigestOnlyDigest: string;
  readonly entrypoint: string;
  readonly stopsignal: string;
}

type DockerCli = (args: readonly string[], opts?: DockerOptions) => Promise<CommandResult>;

const BUSYBOX = '/bin/busybox';
const SHELL_IMAGE = ['CMD ["/bin/sh"]', 'ENV PATH=/bin'];
/** ENV marker so a test can tell which image a container runs (`echo $TITUS_TEST_IMAGE`). */
const marker = (name: string): string => `ENV TITUS_TEST_IMAGE=${name}`;

/** Each image is the same layer with a different config, so the layer is stored and pushed once. */
const SPECS = {
  busybox: [...SHELL_IMAGE, marker('busybox')],
  entrypoint: ['ENTRYPOINT ["/bin/echo","from-entrypoint"]', 'CMD ["from-cmd"]', 'ENV PATH=/bin', marker('entrypoint')],
  // A is pushed first, then B takes its tag, leaving A reachable only by digest.
  bydigestA: [...SHELL_IMAGE, marker('bydigest-a')],
  bydigestB: [...SHELL_IMAGE, marker('bydigest-b')],
} as const;

/** import --change rejects STOPSIGNAL, so this image is built on top of busybox instead. */
const stopsignalDockerfile = (from: string): string => `FROM ${from}\nSTOPSIGNAL SIGUSR1\n${marker('stopsignal')}\n`;

const ETC_PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const ETC_GROUP = 'root:x:0:\nnogroup:x:65534:\n';

/** Builds the rootfs dir: busybox, a symlink per applet, the usual top-level dirs, passwd and group. */
const buildRootfs = async (root: string): Promise<void> => {
  for (const sub of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'run', 'var', 'root']) {
    await mkdir(join(root, sub), { recursive: true });
  }
  // Explicit modes: the umask must not decide them, and /tmp must be writable by any user.
  await chmod(root, 0o755);
  await chmod(join(root, 'tmp'), 0o1777);
  await copyFile(BUSYBOX, join(root, 'bin', 'busybox'));
  const { stdout } = await runCommand([BUSYBOX, '--list']);
  const applets = new Set(stdout.split('\n').filter((name) => name !== '' && name !== 'busybox' && !name.includes('/')));
  applets.add('sh'); // needed by CMD ["/bin/sh"] whatever this busybox build lists
  await Promise.all([...applets].map((name) => symlink('busybox', join(root, 'bin', name))));
  await writeFile(join(root, 'etc', 'passwd'), ETC_PASSWD);
  await writeFile(join(root, 'etc', 'group'), ETC_GROUP);
};

/** The rootfs tar, built once per process: every harness writes its own copy from this buffer. */
let rootfsTar: Promise<Buffer> | undefined;

const buildRootfsTar = async (workDir: string): Promise<Buffer> => {
  const root = join(workDir, 'rootfs');
  const tarPath = join(workDir, 'rootfs-build.tar');
  await buildRootfs(root);
  await runCommand(['tar', '--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', tarPath, '.']);
  return readFile(tarPath);
};

const writeRootfsTar = async (dir: string): Promise<string> => {
  rootfsTar ??= buildRootfsTar(dir).catch((err: unknown) => {
    rootfsTar = undefined; // let the next harness try again
    throw err;
  });
  const tarPath = join(dir, 'rootfs.tar');
  await writeFile(tarPath, await rootfsTar);
  return tarPath;
};

/** Imports the tar with the given Dockerfile-style changes; returns the image id. */
const importImage = async (docker: DockerCli, tarPath: string, changes: readonly string[], ref?: string): Promise<string> => {
  const args = ['import', ...changes.flatMap((change) => ['--change', change]), tarPath];
  if (ref !== undefined) args.push(ref);
  const { stdout } = await docker(args);
  return stdout.trim();
};

/** Builds the stopsignal image from busybox (which must already be in the engine). */
const buildStopsignal = async (socket: string, dir: string, from: string, ref: string): Promise<string> => {
  const context = join(dir, 'stopsignal-context');
  await mkdir(context);
  await writeFile(join(context, 'Dockerfile'), stopsignalDockerfile(from));
  const tarPath = join(dir, 'stopsignal-context.tar');
  await runCommand(['tar', '-C', context, '-cf', tarPath, 'Dockerfile']);
  return buildImage(socket, await readFile(tarPath), ref);
};

/** Pushes `ref` and returns the manifest digest the registry stored, as `docker push` reports it. */
const pushImage = async (docker: DockerCli, ref: string): Promise<string> => {
  const { stdout } = await docker(['push', ref]);
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(stdout)?.[1];
  if (digest === undefined) throw new Error(`no digest in the output of docker push ${ref}:\n${stdout}`);
  return digest;
};

type ImageRefs = Readonly<Record<'busybox' | 'entrypoint' | 'stopsignal' | 'bydigest', string>>;
type ImageIds = Readonly<Record<'busybox' | 'entrypoint' | 'stopsignal' | 'bydigestA' | 'bydigestB', string>>;

/** Creates every image in the engine, concurrently where they do not depend on each other. */
const createImages = async (docker: DockerCli, socket: string, dir: string, tarPath: string, ref: ImageRefs): Promise<ImageIds> => {
  const busyboxAndChild = importImage(docker, tarPath, SPECS.busybox, ref.busybox).then(async (busybox) => ({
    busybox,
    stopsignal: await buildStopsignal(socket, dir, ref.busybox, ref.stopsignal),
  }));
  const [family, entrypoint, bydigestA, bydigestB] = await Promise.all([
    busyboxAndChild,
    importImage(docker, tarPath, SPECS.entrypoint, ref.entrypoint),
    importImage(docker, tarPath, SPECS.bydigestA, ref.bydigest),
    importImage(docker, tarPath, SPECS.bydigestB), // untagged until A is pushed
  ]);
  return { ...family, entrypoint, bydigestA, bydigestB };
};

/** Only busybox, for an engine that needs no more (a data root of its own): the other refs throw. */
const buildBusyboxOnly = async (docker: DockerCli, tarPath: string, repo: (name: string) => string): Promise<TestImages> => {
  const busybox = `${repo('busybox')}:latest`;
  const id = await importImage(docker, tarPath, SPECS.busybox, busybox);
  const busyboxDigest = await pushImage(docker, busybox);
  await docker(['rmi', '-f', id]);
  const absent = (name: string): never => {
    throw new Error(`test image ${name} was not built: this harness has images: 'busybox'`);
  };
  return {
    busybox,
    busyboxRepo: repo('busybox'),
    busyboxDigest,
    get byDigestOnly() {
      return absent('byDigestOnly');
    },
    get byDigestOnlyRepo() {
      return absent('byDigestOnlyRepo');
    },
    get byDigestOnlyDigest() {
      return absent('byDigestOnlyDigest');
    },
    get entrypoint() {
      return absent('entrypoint');
    },
    get stopsignal() {
      return absent('stopsignal');
    },
  };
};

export const buildTestImages = async (
  docker: DockerCli,
  socket: string,
  dir: string,
  registry: string,
  which: 'all' | 'busybox' = 'all',
): Promise<TestImages> => {
  const tarPath = await writeRootfsTar(dir);
  const repo = (name: string): string => `${registry}/titus-test/${name}`;
  if (which === 'busybox') return buildBusyboxOnly(docker, tarPath, repo);
  const ref: ImageRefs = {
    busybox: `${repo('busybox')}:latest`,
    entrypoint: `${repo('entrypoint')}:latest`,
    stopsignal: `${repo('stopsignal')}:latest`,
    bydigest: `${repo('bydigest')}:latest`,
  };
  const ids = await createImages(docker, socket, dir, tarPath, ref);
  const [busyboxDigest, bydigestA] = await Promise.all([
    pushImage(docker, ref.busybox),
    pushImage(docker, ref.bydigest),
    pushImage(docker, ref.entrypoint),
    pushImage(docker, ref.stopsignal),
  ]);
  // Re-point the tag: from now on A is reachable only by its digest.
  await docker(['tag', ids.bydigestB, ref.bydigest]);
  const bydigestB = await pushImage(docker, ref.bydigest);
  if (bydigestB === bydigestA) throw new Error('bydigest: image B got the same digest as image A');
  // Remove by id (with -f: an id may carry several refs) so tests start from an
  // empty engine; stopsignal goes before busybox, its parent.
  await docker(['rmi', '-f', ids.stopsignal, ids.busybox, ids.entrypoint, ids.bydigestA, ids.bydigestB]);
  return {
    busybox: ref.busybox,
    busyboxRepo: repo('busybox'),
    busyboxDigest,
    byDigestOnly: `${repo('bydigest')}@${bydigestA}`,
    byDigestOnlyRepo: repo('bydigest'),
    byDigestOnlyDigest: bydigestA,
    entrypoint: ref.entrypoint,
    stopsignal: ref.stopsignal,
  };
};
