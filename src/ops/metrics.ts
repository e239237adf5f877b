import type { CoreCounters } from '../dpu/core/core-counters.js';
import type { AllocatorStats } from '../memory/region-allocator.js';

/** What the metrics page is drawn from; every figure is read out of band (no core is messaged). */
export interface MetricsSnapshot {
  /** Host memory statistics. */
  memory: AllocatorStats;
  /** Per core: id, run state, mode, jobs running, counters. */
  cores: { id: number; state: string; mode: string; jobs: number; counters: CoreCounters }[];
}

const HELP: Record<keyof CoreCounters, string> = {
  passes: 'Reactor loop passes',
  bursts: 'Job calls that handled at least one item',
  items: 'Items handled by jobs',
  idlePolls: 'Passes in which no job had work',
  sleeps: 'Times the core went to sleep on its doorbell',
  wakeups: 'Times the core woke from its doorbell',
  errors: 'Jobs that trapped or returned an error status',
  commands: 'Control commands executed',
  eventsDropped: 'Events lost because the event ring was full',
};

/** Prometheus text exposition format 0.0.4 of host memory and DPU core counters. */
export function renderMetrics(s: MetricsSnapshot): string {
  const out: string[] = [];
  const gauge = (name: string, help: string, rows: [string, number][]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, v] of rows) out.push(`${name}${labels} ${v}`);
  };
  gauge('qingtian_host_memory_bytes', 'Host memory by use', [
    ['{use="total"}', s.memory.totalBytes],
    ['{use="used"}', s.memory.usedBytes],
    ['{use="free"}', s.memory.freeBytes],
    ['{use="reserved"}', s.memory.reservedBytes],
  ]);
  gauge('qingtian_host_memory_largest_free_bytes', 'Largest free block of host memory', [
    ['', s.memory.largestFreeBytes],
  ]);
  gauge(
    'qingtian_host_memory_regions',
    'Live host memory regions by kind',
    Object.entries(s.memory.byKind).map(([k, v]) => [`{kind="${k}"}`, v.count]),
  );
  gauge(
    'qingtian_dpu_core_jobs',
    'Jobs attached to a DPU core',
    s.cores.map((c) => [`{core="${c.id}",state="${c.state}",mode="${c.mode}"}`, c.jobs]),
  );
  for (const key of Object.keys(HELP) as (keyof CoreCounters)[]) {
    const name = `qingtian_dpu_core_${key.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`)}_total`;
    out.push(`# HELP ${name} ${HELP[key]}`, `# TYPE ${name} counter`);
    for (const c of s.cores) out.push(`${name}{core="${c.id}"} ${c.counters[key]}`);
  }
  return out.join('\n') + '\n';
}
