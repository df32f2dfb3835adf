import t from 'tap';
import { imageRefFor, isValidImageName } from '../../src/runtime/image-ref.js';
import { splitShellWords } from '../../src/task/shell-words.js';
import { requestedProcess, resolveProcess } from '../../src/task/entrypoint.js';

const D = `sha256:${'a'.repeat(64)}`;

t.test('image references', async (t) => {
  t.same(imageRefFor({ imageName: 'org/app' }, ''), { repository: 'org/app', tag: 'latest', ref: 'org/app:latest' }, 'version defaults to latest');
  t.equal(imageRefFor({ imageName: 'org/app', version: 'v2' }, 'reg.example:5000').ref, 'reg.example:5000/org/app:v2', 'registry prefix');
  t.equal(imageRefFor({ imageName: 'x', fullyQualifiedImage: 'r.io/full/name', version: '1' }, 'ignored').ref, 'r.io/full/name:1', 'fullyQualifiedImage wins');
  t.same(imageRefFor({ imageName: 'org/app', version: 'v1', imageDigest: D }, ''), { repository: 'org/app', digest: D, ref: `org/app@${D}` }, 'digest wins');
  for (const bad of ['UPPER', 'a//b', '-lead', 'trail-', 'a b', '']) t.notOk(isValidImageName(bad), `invalid name ${JSON.stringify(bad)}`);
  for (const good of ['busybox', 'org/app', 'localhost/app', '127.0.0.1:5000/a/b', 'Reg.Example.com/a', 'a__b', 'a-----b']) t.ok(isValidImageName(good), good);
  t.throws(() => imageRefFor({}, ''), { code: 'INVALID_ARGUMENT', field: 'containerInfo.imageName' });
  t.throws(() => imageRefFor({ imageName: 'a', version: 'bad tag' }, ''), { code: 'INVALID_ARGUMENT', message: /^containerInfo\.version:/ });
  t.throws(() => imageRefFor({ imageName: 'a', imageDigest: 'md5:abc' }, ''), { code: 'INVALID_ARGUMENT', message: /^containerInfo\.imageDigest:/ });
  t.throws(() => imageRefFor({ fullyQualifiedImage: 'Bad/Name' }, ''), { code: 'INVALID_ARGUMENT', message: /^containerInfo\.fullyQualifiedImage:/ });
});

t.test('shell words', async (t) => {
  t.same(splitShellWords('a b  c'), ['a', 'b', 'c']);
  t.same(splitShellWords(`sh -c 'echo "$HOME"; exit 3'`), ['sh', '-c', 'echo "$HOME"; exit 3']);
  t.same(splitShellWords(`"a \\"q\\" b" c\\ d ''`), ['a "q" b', 'c d', '']);
  t.same(splitShellWords('  '), []);
  t.throws(() => splitShellWords(`'open`), { code: 'INVALID_ARGUMENT' });
  t.throws(() => splitShellWords(`"open`), { code: 'INVALID_ARGUMENT' });
});

t.test('entrypoint and command resolution (Docker semantics)', async (t) => {
  const image = { entrypoint: ['/ep'], cmd: ['c1'] };
  const cases: Array<[string, Parameters<typeof requestedProcess>[0], { entrypoint: string[]; cmd: string[] }]> = [
    ['image defaults', {}, { entrypoint: ['/ep'], cmd: ['c1'] }],
    ['command only', { process: { command: ['x'] } }, { entrypoint: ['/ep'], cmd: ['x'] }],
    ['entrypoint drops image cmd', { process: { entrypoint: ['/mine'] } }, { entrypoint: ['/mine'], cmd: [] }],
    ['both', { process: { entrypoint: ['/mine'], command: ['y'] } }, { entrypoint: ['/mine'], cmd: ['y'] }],
    ['clear entrypoint', { process: { entrypoint: [''], command: ['run'] } }, { entrypoint: [], cmd: ['run'] }],
    ['clear cmd', { process: { command: [''] } }, { entrypoint: ['/ep'], cmd: [] }],
    ['entrypointStr wins over process', { entrypointStr: 'a "b c"', process: { command: ['ignored'] } }, { entrypoint: ['a', 'b c'], cmd: [] }],
  ];
  for (const [name, info, want] of cases) t.same(resolveProcess(requestedProcess(info), image), want, name);
  t.throws(() => resolveProcess(requestedProcess({ process: { entrypoint: [''] } }), { entrypoint: [], cmd: [] }), { code: 'INVALID_ARGUMENT' });
});
