import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('shutdown', () => {
  it('a stopped pool leaves no thread running: the process exits on its own', () => {
    const child = fileURLToPath(new URL('../../helpers/exit-child.mjs', import.meta.url));
    const r = spawnSync(process.execPath, [child], { encoding: 'utf8', timeout: 30_000 });
    expect(r.error, 'the child did not exit within 30 s').toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('shut down');
    expect(r.status).toBe(0);
  });
});
