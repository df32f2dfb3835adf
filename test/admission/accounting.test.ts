/** Admission accounting: a pure function of what is asked, what is held and what the host has. */
import t from 'tap';
import { availableResources, checkFits, sumResources } from '../../src/host/admission.js';
import type { TaskResources } from '../../src/task/types.js';

const task = (r: Partial<TaskResources>): TaskResources => ({ cpu: 0, memoryMb: 0, diskMb: 0, networkMbps: 0, gpus: 0, ...r });
const totals = { cpu: 4, memoryMb: 8192, diskMb: 100_000, networkMbps: 1000 };

t.test('a task that fits next to the others is admitted', async (t) => {
  const held = sumResources([task({ cpu: 1, memoryMb: 4096 }), task({ cpu: 2, memoryMb: 2048, diskMb: 10_000, networkMbps: 500 })]);
  t.same(held, task({ cpu: 3, memoryMb: 6144, diskMb: 10_000, networkMbps: 500 }));
  t.doesNotThrow(() => checkFits(task({ cpu: 1, memoryMb: 2048, diskMb: 90_000, networkMbps: 500 }), held, totals), 'exactly the rest');
  t.doesNotThrow(() => checkFits(task({}), sumResources([]), totals), 'nothing on nothing');
});

t.test('more than the host has at all is INVALID_ARGUMENT, naming the resource and the total', async (t) => {
  const none = sumResources([]);
  const rows: Array<[Partial<TaskResources>, RegExp]> = [
    [{ cpu: 4.5 }, /^resources\.cpu: 4\.5 CPUs is more than this host has \(4 CPUs for tasks\)$/],
    [{ memoryMb: 8193 }, /^resources\.memoryMb: 8193 MiB is more than this host has \(8192 MiB/],
    [{ diskMb: 100_001 }, /^resources\.diskMb: 100001 MiB is more than this host has/],
    [{ networkMbps: 1001 }, /^resources\.networkMbps: 1001 Mbps is more than this host has \(1000 Mbps/],
  ];
  for (const [asked, message] of rows) {
    t.throws(() => checkFits(task(asked), none, totals), { code: 'INVALID_ARGUMENT', message, field: `resources.${Object.keys(asked)[0]}` }, JSON.stringify(asked));
  }
  t.throws(() => checkFits(task({ cpu: 8 }), sumResources([task({ cpu: 4 })]), totals), { code: 'INVALID_ARGUMENT' }, 'never fits beats not fitting now');
});

t.test('more than is free now is RESOURCE_EXHAUSTED, naming the resource, the amount asked and the amount free', async (t) => {
  const held = sumResources([task({ cpu: 3, memoryMb: 6144, diskMb: 99_000, networkMbps: 900 })]);
  const rows: Array<[Partial<TaskResources>, RegExp]> = [
    [{ cpu: 2 }, /^resources\.cpu: asked for 2 CPUs but only 1 CPUs of 4 CPUs are free/],
    [{ memoryMb: 4096 }, /^resources\.memoryMb: asked for 4096 MiB but only 2048 MiB of 8192 MiB are free/],
    [{ diskMb: 1001 }, /^resources\.diskMb: asked for 1001 MiB but only 1000 MiB/],
    [{ networkMbps: 101 }, /^resources\.networkMbps: asked for 101 Mbps but only 100 Mbps/],
  ];
  for (const [asked, message] of rows) {
    t.throws(() => checkFits(task(asked), held, totals), { code: 'RESOURCE_EXHAUSTED', message }, JSON.stringify(asked));
  }
  const over = sumResources([task({ cpu: 6 })]); // tasks from before a smaller host.cpu was configured
  t.throws(() => checkFits(task({ cpu: 0.5 }), over, totals), { code: 'RESOURCE_EXHAUSTED', message: /only 0 CPUs of 4 CPUs are free/ });
});

t.test('fractional CPUs add up without rounding errors refusing an exact fit', async (t) => {
  const held = sumResources([task({ cpu: 0.1 }), task({ cpu: 0.2 })]); // 0.30000000000000004
  t.doesNotThrow(() => checkFits(task({ cpu: 0.7 }), held, { ...totals, cpu: 1 }));
  t.throws(() => checkFits(task({ cpu: 0.701 }), held, { ...totals, cpu: 1 }), { code: 'RESOURCE_EXHAUSTED', message: /asked for 0\.701 CPUs but only 0\.7 CPUs/ });
});

t.test('a disk or bandwidth total of 0 (unknown, or turned off) is not accounted', async (t) => {
  const unknown = { ...totals, diskMb: 0, networkMbps: 0 };
  t.doesNotThrow(() => checkFits(task({ diskMb: 1 << 30, networkMbps: 1 << 20 }), sumResources([task({ diskMb: 5, networkMbps: 5 })]), unknown));
  t.throws(() => checkFits(task({ cpu: 1 }), sumResources([]), { ...unknown, cpu: 0 }), { code: 'INVALID_ARGUMENT', message: /resources\.cpu: 1 CPUs is more than this host has \(0 CPUs/ }, 'CPU and memory are always accounted');
});

t.test('GPUs are left to the GPU part', async (t) => {
  t.doesNotThrow(() => checkFits(task({ gpus: 64 }), sumResources([task({ gpus: 8 })]), totals));
});

t.test('available: total less allocated, never negative', async (t) => {
  const total = { ...totals, gpus: 2 };
  t.same(availableResources(total, task({ cpu: 0.1 + 0.2, memoryMb: 9000, diskMb: 1, networkMbps: 1000, gpus: 1 })), { cpu: 3.7, memoryMb: 0, diskMb: 99_999, networkMbps: 0, gpus: 1 });
});
