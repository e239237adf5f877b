import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/common/package-paths.js';

const bin = join(packageRoot(), 'bin', 'qingtian.js');
const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium)
  console.warn(`bench-html.test: ${CHROMIUM} not found (Debian package chromium, installed by .ci/run)`);
const ARTIFACTS = join(packageRoot(), 'test-artifacts');

describe('qingtian bench --html', () => {
  const out = mkdtempSync(join(tmpdir(), 'qt-bench-html-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('writes the JSON lines and a self-contained page beside them', () => {
    const r = spawnSync(process.execPath, [bin, 'bench', 'dif', '--quick', '--runs', '1', '--json', '--html', out], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(r.status, r.stderr).toBe(0);
    // stdout stays the JSON lines (nothing about the files), and they are the file's.
    expect(readFileSync(join(out, 'dif.jsonl'), 'utf8')).toBe(r.stdout);
    const html = readFileSync(join(out, 'dif.html'), 'utf8');
    // Nothing is fetched when it is opened: no src= or href= to anything but data: URLs.
    expect(html.match(/(?:src|href)="(?!data:)[^"]*"/g)).toBeNull();
    expect(html).toContain('uPlot');
  });

  it.runIf(haveChromium)('opens in real Chromium with no console errors, charts and a row per line', async () => {
    const lines = readFileSync(join(out, 'dif.jsonl'), 'utf8').trim().split('\n');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      const fetched: string[] = [];
      page.on('request', (req) => {
        if (!req.url().startsWith('file:') && !req.url().startsWith('data:')) fetched.push(req.url());
      });
      await page.goto(pathToFileURL(join(out, 'dif.html')).href);
      await page.waitForSelector('#charts canvas');
      expect(await page.locator('#lines tbody tr').count()).toBe(lines.length);
      expect(await page.locator('#charts figure').count()).toBeGreaterThanOrEqual(1);
      expect(await page.locator('#charts canvas').count()).toBe(await page.locator('#charts figure').count());
      expect(await page.textContent('#meta')).toMatch(/2 CPUs|CPUs/);
      // The legend names both series: ours and the peer, side by side per case.
      expect(await page.locator('.u-legend').first().textContent()).toMatch(/ours.*peer/s);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'bench-report.png'), fullPage: true });
      expect(problems).toEqual([]);
      expect(fetched).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
