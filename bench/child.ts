/**
 * Entry of one benchmark child process: `child.ts '<json list of {task, args}>'`. Runs the tasks in order and
 * prints one `RESULT <json>` line per task on stdout; exits non-zero on the first failure.
 */
import * as tasks from './tasks.js';

type Spec = { readonly task: 'raw' | 'bulk' | 'pipeRatio' | 'handshakes' | 'rss' | 'serverCpu' | 'dtlsHandshakes' | 'dtlsThroughput'; readonly args: never };

const specs = JSON.parse(process.argv[2] ?? '[]') as Spec[];
try {
  for (const s of specs) {
    const result: unknown = await tasks[s.task](s.args);
    process.stdout.write(`RESULT ${JSON.stringify({ task: s.task, args: s.args, result })}\n`);
  }
  await tasks.cleanup();
  process.exit(0);
} catch (err) {
  process.stderr.write(`task failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
