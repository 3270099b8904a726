/**
 * Child process of the method contract's resume test. argv[2] is a JSON `ResumeChildArgs`: it trains the
 * declared run in `outDir` with checkpoints every `checkpointEvery` steps, prints one JSON line per step to
 * stdout (`{"step":…}`) and, when `killAfterStep` is set, kills itself with SIGKILL right after that step —
 * no chance to clean up, as a crash or an OOM kill. A last line `{"done":…}` reports where a run resumed from.
 */
import { createRegistry, initBackend } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import { contractData, trainContractRun } from './contract-run';
import type { ContractRun } from './contract-run';

export interface ResumeChildArgs {
  readonly run: ContractRun;
  readonly outDir: string;
  readonly checkpointEvery: number;
  readonly killAfterStep?: number;
  readonly resume: boolean;
}

const args = JSON.parse(process.argv[2]) as ResumeChildArgs;
// Single-threaded wasm, as in the parent test: bit-exact across processes.
await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
const module = (await import(args.run.pluginModule)) as Record<string, unknown>;
const factory = module[args.run.pluginExport];
if (typeof factory !== 'function') throw new Error(`${args.run.pluginModule} has no plugin factory export named ${args.run.pluginExport}`);
const method = createRegistry()
  .use((factory as () => Plugin)())
  .create(args.run.method as never, args.run.config);
const data = await contractData(args.run.data);
const result = await trainContractRun(method, data, args.run, {
  outDir: args.outDir,
  resume: args.resume,
  checkpointEvery: { steps: args.checkpointEvery },
  callbacks: [
    {
      name: 'report-and-kill',
      onStepEnd(record) {
        // The line of the killed step itself may be lost with the process; the test does not need it.
        process.stdout.write(`${JSON.stringify({ step: record.step, loss: record.loss, metrics: record.metrics })}\n`);
        if (record.step === args.killAfterStep) process.kill(process.pid, 'SIGKILL');
      },
    },
  ],
});
process.stdout.write(`${JSON.stringify({ done: { steps: result.steps, resumedFromStep: result.resumedFromStep ?? null } })}\n`);
result.dispose();
