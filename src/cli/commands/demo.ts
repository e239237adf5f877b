import { runDemo } from '../../orchestrator/demo/run-demo.js';

export async function demoCommand(o: { seconds: number }): Promise<void> {
  await runDemo({ seconds: o.seconds });
}
