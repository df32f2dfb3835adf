import t from 'tap';
import { packetFilterSuite, skipReason } from './fixtures/suite.js';

/** The escape hatch: tc + bpftool attach and fill the same object, forced with mode 'tc'. */
const skip = await skipReason('tc');
if (skip !== undefined) t.plan(0, `tc fallback not testable here: ${skip}`);
else packetFilterSuite(t, 'tc');
