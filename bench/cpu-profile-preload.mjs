// Preloaded through NODE_OPTIONS=--import=<this file> by `npm run loadtest -- --profile DIR`
// (NODE_OPTIONS refuses --cpu-prof): a V8 CPU profile of this process, written to
// $KONBINI_CPU_PROFILE_DIR/<script>-<pid>.cpuprofile when the process exits.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isMainThread, threadId } from 'node:worker_threads';

const dir = process.env.KONBINI_CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  const name = `${basename(process.argv[1] ?? 'node').replace(/\.[mc]?[jt]s$/, '')}-${process.argv.slice(2, 3).join('')}-${process.pid}${isMainThread ? '' : `-worker${threadId}`}`;
  process.once('exit', () => {
    // the in-thread session answers synchronously, so this works inside 'exit'
    session.post('Profiler.stop', (err, res) => {
      if (!err) writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
