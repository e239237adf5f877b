import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../../src/common/package-paths.js';
import { startDaemon, type D } from '../../helpers/daemon.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium)
  console.warn(`dashboard.test: ${CHROMIUM} not found (Debian package chromium, installed by .ci/run)`);

/** Where the test leaves its screenshot (gitignored). */
const ARTIFACTS = join(packageRoot(), 'test-artifacts');

describe.runIf(haveChromium)('the live dashboard in Chromium', () => {
  let d: D;
  let browser: Browser;
  beforeAll(async () => {
    d = await startDaemon({
      tcp: { port: 0 },
      sampleMs: 200,
      host: { memory: { sizeBytes: 64 << 20 }, dpu: { cores: 2, mode: 'adaptive' }, vms: { poolMiB: 16 } },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await d?.stop();
  });

  it('loads with no console errors, its numbers move while a job runs, and leaves a screenshot', async () => {
    const { host, port } = d.daemon.address.tcp!;
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    const outside: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(`http://${host}:${port}/`) && !r.url().startsWith('data:')) outside.push(r.url());
    });

    await page.goto(`http://${host}:${port}/dashboard`);
    await page.waitForFunction(() => Number(document.getElementById('samples')?.textContent) >= 2);
    expect(await page.textContent('#host')).toMatch(/2 DPU core\(s\), 64 MiB host memory/);
    expect(await page.locator('#cores tbody tr').count()).toBe(2);

    // Traffic: a scrub job on core 1; its counters, rate and busy ratio climb on the page.
    expect(
      (await d.client.send('PUT', '/jobs/load', { core: 1, kind: 'scrub', scratchBytes: 1 << 20, budget: 64 })).status,
    ).toBe(200);
    const items = async (): Promise<number> => Number(await page.textContent('#cores tr[data-core="1"] td.items'));
    const first = await page.waitForFunction(
      () => Number(document.querySelector('#cores tr[data-core="1"] td.items')?.textContent) > 0,
    );
    await first.dispose();
    const a = await items();
    await page.waitForFunction(
      (prev) => Number(document.querySelector('#cores tr[data-core="1"] td.items')?.textContent) > prev,
      a,
    );
    expect(await items()).toBeGreaterThan(a);
    await page.waitForFunction(
      () => Number(document.querySelector('#jobs tr[data-job="load"] td.lines')?.textContent) > 0,
    );
    await page.waitForFunction(
      () => parseFloat(document.querySelector('#cores tr[data-core="1"] td.busy')?.textContent ?? '0') > 0,
    );
    // A VM with a guest agent: its row appears, and its vsock traffic shows as throughput.
    const vmPut = await d.client.send('PUT', '/vms/web-1', {
      vcpus: 1,
      memoryMiB: 8,
      devices: [{ kind: 'vsock', cid: 42 }],
    });
    expect(vmPut.status, vmPut.text).toBe(200);
    await page.waitForFunction(
      () => document.querySelector('#vms tr[data-vm="web-1"] td.state')?.textContent === 'running',
    );
    const vm = d.daemon.host.vms.get('web-1')!;
    let talking = true;
    const talk = (async () => {
      while (talking) await vm.guestInfo({ timeoutMs: 20_000 });
    })();
    await page.waitForFunction(
      () => parseFloat(document.querySelector('#vms tr[data-vm="web-1"] td.tx')?.textContent ?? '0') > 0,
    );
    talking = false;
    await talk;
    // Both charts drew (uPlot renders into a canvas each).
    expect(await page.locator('#busy-chart canvas').count()).toBe(1);
    expect(await page.locator('#items-chart canvas').count()).toBe(1);

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(existsSync(shot)).toBe(true);
    expect(problems).toEqual([]);
    expect(outside).toEqual([]);
    await d.client.send('DELETE', '/jobs/load');
    await d.client.send('DELETE', '/vms/web-1');
    await page.close();
  });
});
