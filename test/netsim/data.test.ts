import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/common/package-paths.js';
import { resolveTopology } from '../../src/netsim/topology.js';
import { loadCdf } from '../../src/netsim/workload.js';

const data = (name: string): string => join(packageRoot(), 'data', name);

describe('data/: the reference data bench cc and the simulator docs read', () => {
  it('the HPCC fat tree parses: 320 hosts, 56 switches, 480 links of 100 and 400 Gb/s', () => {
    const topo = resolveTopology(data('hpcc-fat-topology.txt'));
    expect(topo.kinds.filter((k) => k === 'host')).toHaveLength(320);
    expect(topo.kinds.filter((k) => k === 'switch')).toHaveLength(56);
    expect(topo.links).toHaveLength(480);
    expect(new Set(topo.links.map((l) => l.rateBps))).toEqual(new Set([100e9, 400e9]));
  });

  it('the WebSearch CDF parses and ends at 100 %', () => {
    const cdf = loadCdf(data('websearch-cdf.txt'));
    expect(cdf.sizes.length).toBeGreaterThan(2);
    expect(cdf.cum.at(-1)).toBe(100);
  });

  it('ships with the package', () => {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('data');
  });
});
