import { runDemo } from '../../orchestrator/demo/run-demo.js';

/** Options of `qingtian demo`, as commander parses them. */
export interface DemoCliOptions {
  seconds: number;
  hostFile?: string;
}

/** `qingtian demo`: the host's story in chapters; `--host-file` brings the host to a host file first. */
export async function demoCommand(o: DemoCliOptions): Promise<void> {
  await runDemo({ seconds: o.seconds, hostFile: o.hostFile });
}
