// ExclusiveGpuAllocator in memory, with fakeGpus() standing for the inventory
// nvidia-smi would report (no real GPU involved). Cross-process exclusion
// through lock files is in gpu-lock-store.test.ts.
import t from 'tap';
import { ExclusiveGpuAllocator } from '../../src/gpu/gpu-allocator.js';
import type { GpuLockAttempt, GpuLockStore } from '../../src/gpu/gpu-lock-store.js';
import { fakeGpus } from './gpu-fixtures.js';

const uuidsOf = (lease: { devices: readonly { uuid: string }[] }): string[] => lease.devices.map((d) => d.uuid);

t.test('grants lowest index first, each GPU to one task', async (t) => {
  const gpus = fakeGpus(8);
  const allocator = new ExclusiveGpuAllocator([...gpus].reverse());
  t.equal(allocator.total, 8);
  const a = allocator.allocate('task-a', 4);
  const b = allocator.allocate('task-b', 4);
  t.same(
    a.devices.map((d) => d.index),
    [0, 1, 2, 3],
  );
  t.same(
    b.devices.map((d) => d.index),
    [4, 5, 6, 7],
  );
  t.equal(uuidsOf(a).filter((u) => uuidsOf(b).includes(u)).length, 0, 'two 4-GPU tasks on 8 never share');
  t.equal(allocator.inUse(), 8);
  t.same(
    allocator.leases().map((l) => l.taskId),
    ['task-a', 'task-b'],
  );
});

t.test('concurrent requests from async code never share a GPU', async (t) => {
  const allocator = new ExclusiveGpuAllocator(fakeGpus(8));
  const leases = await Promise.all(
    ['a', 'b'].map(async (taskId) => {
      await new Promise((resolve) => setImmediate(resolve));
      return allocator.allocate(taskId, 4);
    }),
  );
  const all = leases.flatMap(uuidsOf);
  t.equal(new Set(all).size, 8);
});

t.test('a request that does not fit is refused with RESOURCE_EXHAUSTED and takes nothing', async (t) => {
  const allocator = new ExclusiveGpuAllocator(fakeGpus(8));
  allocator.allocate('a', 4);
  allocator.allocate('b', 4);
  t.throws(() => allocator.allocate('c', 1), {
    name: 'ExecutorError',
    code: 'RESOURCE_EXHAUSTED',
    message: 'task c asked for 1 GPUs but only 0 of 8 are free',
  });
  allocator.release('b');
  t.throws(() => allocator.allocate('c', 5), { code: 'RESOURCE_EXHAUSTED', message: /only 4 of 8 are free/ });
  t.equal(allocator.inUse(), 4, 'the refused request holds nothing');
  t.throws(() => new ExclusiveGpuAllocator(fakeGpus(8)).allocate('big', 9), { message: /asked for 9 GPUs but only 8 of 8/ });
});

t.test('a host without GPUs refuses any GPU request', async (t) => {
  const allocator = new ExclusiveGpuAllocator([]);
  t.equal(allocator.total, 0);
  t.same(allocator.allocate('cpu-only', 0).devices, []);
  t.throws(() => allocator.allocate('gpu-task', 1), {
    code: 'RESOURCE_EXHAUSTED',
    message: 'task gpu-task asked for 1 GPUs but only 0 of 0 are free (this host has no GPUs)',
  });
});

t.test('allocate is idempotent for the same task and count', async (t) => {
  const allocator = new ExclusiveGpuAllocator(fakeGpus(4));
  const first = allocator.allocate('a', 2);
  t.equal(allocator.allocate('a', 2), first, 'the very same lease');
  t.equal(allocator.inUse(), 2);
  t.throws(() => allocator.allocate('a', 3), { code: 'ALREADY_EXISTS', message: /already holds 2 GPUs/ });
});

t.test('zero GPUs is an empty lease that holds nothing', async (t) => {
  const allocator = new ExclusiveGpuAllocator(fakeGpus(2));
  const lease = allocator.allocate('a', 0);
  t.same(lease, { taskId: 'a', devices: [] });
  t.equal(allocator.inUse(), 0);
  t.same(allocator.leases(), []);
});

t.test('bad arguments are INVALID_ARGUMENT', async (t) => {
  const allocator = new ExclusiveGpuAllocator(fakeGpus(2));
  t.throws(() => allocator.allocate('a', -1), { code: 'INVALID_ARGUMENT' });
  t.throws(() => allocator.allocate('a', 1.5), { code: 'INVALID_ARGUMENT' });
  t.throws(() => allocator.allocate('', 1), { code: 'INVALID_ARGUMENT' });
  t.throws(() => new ExclusiveGpuAllocator([...fakeGpus(2), ...fakeGpus(1)]), { code: 'INTERNAL' });
});

t.test('release gives GPUs back and is idempotent', async (t) => {
  const allocator = new ExclusiveGpuAllocator(fakeGpus(2));
  const a = allocator.allocate('a', 2);
  allocator.release('a');
  allocator.release('a');
  allocator.release('never-allocated');
  t.equal(allocator.inUse(), 0);
  t.same(allocator.leases(), []);
  t.same(uuidsOf(allocator.allocate('b', 2)), uuidsOf(a), 'released GPUs can be granted again');
});

t.test('leases are frozen snapshots', async (t) => {
  const allocator = new ExclusiveGpuAllocator(fakeGpus(2));
  const lease = allocator.allocate('a', 1);
  t.ok(Object.isFrozen(lease) && Object.isFrozen(lease.devices));
  t.ok(Object.isFrozen(allocator.leases()));
});

t.test('restore re-grants exactly the persisted GPUs', async (t) => {
  const gpus = fakeGpus(8);
  const allocator = new ExclusiveGpuAllocator(gpus);
  const persisted = [gpus[6]?.uuid ?? '', gpus[2]?.uuid ?? ''];
  const lease = allocator.restore('a', persisted);
  t.same(
    lease.devices.map((d) => d.index),
    [2, 6],
    'lowest index first, as allocate would have listed them',
  );
  t.equal(allocator.restore('a', [...persisted].reverse()), lease, 'idempotent');
  t.same(allocator.restore('cpu-task', []).devices, []);
  t.equal(allocator.inUse(), 2);
  t.same(
    allocator.allocate('b', 2).devices.map((d) => d.index),
    [0, 1],
  );
  t.same(
    allocator.allocate('c', 4).devices.map((d) => d.index),
    [3, 4, 5, 7],
    'allocation skips restored GPUs',
  );
});

t.test('restore never double-grants', async (t) => {
  const gpus = fakeGpus(4);
  const allocator = new ExclusiveGpuAllocator(gpus);
  const a = allocator.allocate('a', 2);
  const [heldByA] = uuidsOf(a);
  const free = gpus[3]?.uuid ?? '';
  t.throws(() => allocator.restore('b', [free, heldByA ?? '']), {
    code: 'FAILED_PRECONDITION',
    message: new RegExp(`${heldByA} is held by task a`),
  });
  t.equal(allocator.inUse(), 2, 'the failed restore took nothing, not even the free GPU');
  t.throws(() => allocator.restore('b', ['GPU-ffffffff-ffff-ffff-ffff-ffffffffffff']), {
    code: 'FAILED_PRECONDITION',
    message: /is not on this host/,
  });
  t.throws(() => allocator.restore('b', [free, free]), { code: 'INVALID_ARGUMENT' });
  t.throws(() => allocator.restore('a', [free]), { code: 'ALREADY_EXISTS' });
});

/** A lock store standing for another executor process that already holds some GPUs. */
class OtherProcessHolds implements GpuLockStore {
  readonly released: string[] = [];
  constructor(private readonly heldElsewhere: ReadonlySet<string>) {}
  tryAcquire(uuid: string): GpuLockAttempt {
    return this.heldElsewhere.has(uuid) ? { acquired: false, holder: { taskId: 'other', pid: 4242 } } : { acquired: true };
  }
  release(uuid: string): void {
    this.released.push(uuid);
  }
}

t.test('GPUs locked by another process are skipped, and a refusal unlocks what it took', async (t) => {
  const gpus = fakeGpus(4);
  const locks = new OtherProcessHolds(new Set([gpus[0]?.uuid ?? '', gpus[2]?.uuid ?? '']));
  const allocator = new ExclusiveGpuAllocator(gpus, { lockStore: locks });
  t.same(
    allocator.allocate('a', 1).devices.map((d) => d.index),
    [1],
  );
  t.throws(() => allocator.allocate('b', 2), { code: 'RESOURCE_EXHAUSTED', message: /only 1 of 4 are free/ });
  t.same(locks.released, [gpus[3]?.uuid], 'the one GPU b had locked was unlocked again');
  t.throws(() => allocator.restore('c', [gpus[2]?.uuid ?? '']), {
    code: 'FAILED_PRECONDITION',
    message: /held by task other in process 4242/,
  });
  allocator.release('a');
  t.same(locks.released, [gpus[3]?.uuid, gpus[1]?.uuid]);
});

t.test('a lock store failure leaves nothing half-taken', async (t) => {
  const gpus = fakeGpus(3);
  const released: string[] = [];
  const failing: GpuLockStore = {
    tryAcquire: (uuid) => {
      if (uuid === gpus[1]?.uuid) throw new Error('EACCES');
      return { acquired: true };
    },
    release: (uuid) => void released.push(uuid),
  };
  const allocator = new ExclusiveGpuAllocator(gpus, { lockStore: failing });
  t.throws(() => allocator.allocate('a', 3), { message: 'EACCES' });
  t.same(released, [gpus[0]?.uuid]);
  t.equal(allocator.inUse(), 0);
});
