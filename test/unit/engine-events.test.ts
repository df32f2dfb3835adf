import t from 'tap';
import { EventLines } from '../../src/runtime/engine-events.js';

const event = (status: string, id: string): string => JSON.stringify({ status, id, from: 'img', Type: 'container', Action: status, Actor: { ID: id, Attributes: {} }, time: 1 });

t.test('die events are found across chunk boundaries; others and garbage are skipped', async (t) => {
  const died: string[] = [];
  const lines = new EventLines((id) => died.push(id));
  const stream = [event('start', 'a'), event('die', 'b'), 'not json "die"', event('destroy', 'c'), event('die', 'd')].join('\n') + '\n';
  // Cut the stream anywhere, as the socket may.
  for (let i = 0; i < stream.length; i += 7) lines.push(Buffer.from(stream.slice(i, i + 7)));
  t.same(died, ['b', 'd']);
});

t.test('an event still waiting for its newline is not acted on until it comes', async (t) => {
  const died: string[] = [];
  const lines = new EventLines((id) => died.push(id));
  lines.push(event('die', 'x'));
  t.same(died, []);
  lines.push('\n');
  t.same(died, ['x']);
});

t.test('newer engines name the event only in Action', async (t) => {
  const died: string[] = [];
  const lines = new EventLines((id) => died.push(id));
  lines.push(`${JSON.stringify({ Type: 'container', Action: 'die', id: 'y', Actor: { ID: 'y' } })}\n`);
  t.same(died, ['y']);
});

t.test('a character cut in two by the socket is put together again', async (t) => {
  const died: string[] = [];
  const lines = new EventLines((id) => died.push(id));
  const bytes = Buffer.from(`${JSON.stringify({ status: 'die', id: 'z', Actor: { Attributes: { name: 'grüße' } } })}\n`);
  const cut = bytes.indexOf(Buffer.from('ü')) + 1; // inside the two bytes of ü
  lines.push(bytes.subarray(0, cut));
  lines.push(bytes.subarray(cut));
  t.same(died, ['z']);
});
