import { Reactor, type ReactorExit, type ReactorInit } from './reactor.js';

/**
 * Piscina task: one per core, for the core's whole life. It returns only when the core is told
 * to stop; Piscina's per-task cost (tens of µs) is paid once per core start, never per item.
 */
export default async function reactorTask(init: ReactorInit): Promise<ReactorExit> {
  const reactor = new Reactor(init);
  for (;;) {
    const turn = reactor.run();
    if ('exit' in turn) return turn.exit;
    // A host job kind's module to import: the loop resumes where it left off once it is in.
    await reactor.loadHostKind(turn.load);
  }
}
