import { Reactor, type ReactorExit, type ReactorInit } from './reactor.js';

/**
 * Piscina task: one per core, for the core's whole life. It returns only when the core is told
 * to stop; Piscina's per-task cost (tens of µs) is paid once per core start, never per item.
 */
export default function reactorTask(init: ReactorInit): ReactorExit {
  return new Reactor(init).run();
}
