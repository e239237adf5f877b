import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../../common/package-paths.js';
import type { Api } from './api.js';

/** Only what the daemon itself serves: no other origin is ever contacted by the page. */
const CSP = "default-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'";

/**
 * `GET /dashboard`: a live page of the host (per-core load and rates, jobs, swaps) drawn from
 * `/events`. Its files are served by the daemon, uPlot included (from the installed package):
 * the page needs no network beyond the daemon.
 */
export function registerDashboard(api: Api): void {
  const dir = join(packageRoot(), 'src', 'orchestrator', 'daemon', 'dashboard');
  const require = createRequire(import.meta.url);
  const files: [string, string, string][] = [
    ['/dashboard', join(dir, 'index.html'), 'text/html; charset=utf-8'],
    ['/dashboard/app.js', join(dir, 'app.js'), 'text/javascript; charset=utf-8'],
    ['/dashboard/dashboard.css', join(dir, 'dashboard.css'), 'text/css; charset=utf-8'],
    ['/dashboard/uplot.js', require.resolve('uplot/dist/uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
    ['/dashboard/uplot.css', require.resolve('uplot/dist/uPlot.min.css'), 'text/css; charset=utf-8'],
  ];
  for (const [path, file, type] of files) {
    const body = readFileSync(file);
    api.raw({
      path,
      tag: 'dashboard',
      summary: path === '/dashboard' ? 'The live dashboard page' : `A file of the dashboard (${type.split(';')[0]})`,
      contentType: type.split(';')[0]!,
      handler: (_req, reply) =>
        reply.type(type).header('content-security-policy', CSP).header('cache-control', 'no-cache').send(body),
    });
  }
}
