/**
 * A loopback TCP port that accepts connections and never answers: it stands
 * in for a registry that hangs, so a pull stays in progress as long as a test
 * needs. Closed at teardown.
 */
import { createServer, type Socket } from 'node:net';

export const startTarpit = async (t: { teardown(fn: () => unknown): void }): Promise<number> => {
  const hung: Socket[] = [];
  const server = createServer((s) => hung.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    hung.forEach((s) => s.destroy());
    server.close();
  });
  return (server.address() as { port: number }).port;
};
