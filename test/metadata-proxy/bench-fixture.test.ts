/**
 * The bench fixture (startMetadataBenchFixture): the proxy with N fake tasks
 * on loopback addresses and a plain node:http server with the same bytes.
 */
import t from 'tap';
import { startMetadataBenchFixture } from '../../src/metadata-proxy/bench-fixture.js';
import { httpRequest } from './fixtures/http-client.js';

t.test('both servers answer each task the same bytes', async (t) => {
  const f = await startMetadataBenchFixture({ tasks: 300, requireToken: true });
  t.teardown(() => f.close());
  t.equal(f.tasks.length, 300);
  t.equal(new Set(f.tasks.map((x) => x.sourceAddress)).size, 300, 'one source address per task');
  const port = (url: string) => Number(new URL(url).port);
  for (const task of [f.tasks[0], f.tasks[299]]) {
    if (task === undefined) continue;
    const viaProxy = await httpRequest(port(f.proxyUrl), task.sourceAddress, 'GET', f.credentialsPath, { 'X-aws-ec2-metadata-token': task.token });
    const viaPlain = await httpRequest(port(f.plainUrl), task.sourceAddress, 'GET', f.credentialsPath);
    t.equal(viaProxy.status, 200);
    t.same(viaProxy.body, task.body);
    t.same(viaPlain.body, task.body);
    t.match(JSON.parse(task.body.toString()), { Code: 'Success', SecretAccessKey: `bench-secret-titus-${task.taskId}` });
  }
  const noToken = await httpRequest(port(f.proxyUrl), f.tasks[0]?.sourceAddress ?? '', 'GET', f.credentialsPath);
  t.equal(noToken.status, 401, 'requireToken is honoured');
});
