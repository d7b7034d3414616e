// Summarise V8 CPU profiles (.cpuprofile): per process, the share of samples that
// is idle, GC, and the heaviest functions by self time, and by package/file.
//   node bench/profile-summary.mjs DIR [--top 15]
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const top = Number(process.argv[process.argv.indexOf('--top') + 1]) || 15;
if (!dir) {
  console.error('usage: node bench/profile-summary.mjs DIR [--top N]');
  process.exit(2);
}
for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile')).sort()) {
  const p = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const dt = new Map();
  for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const self = new Map();
  const byFile = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of dt) {
    const n = byId.get(id);
    const cf = n.callFrame;
    total += us;
    if (cf.functionName === '(idle)' || cf.functionName === '(program)') {
      if (cf.functionName === '(idle)') idle += us;
    }
    const url = cf.url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, 'nm:').replace(/^\/work\/main\//, '');
    const key = `${cf.functionName || '(anon)'} ${url}:${cf.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + us);
    const file = url.startsWith('nm:') ? url.split('/').slice(0, url.startsWith('nm:@') ? 2 : 1).join('/') : url || cf.functionName;
    byFile.set(file, (byFile.get(file) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us) => `${((100 * us) / busy).toFixed(1)}%`;
  console.log(`\n== ${f}: ${(total / 1e6).toFixed(1)} s profiled, busy ${(busy / 1e6).toFixed(1)} s (${((100 * busy) / total).toFixed(0)}%)`);
  console.log('  by function (self, % of busy):');
  for (const [k, us] of [...self].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`    ${pct(us).padStart(6)}  ${k}`);
  console.log('  by package / file:');
  for (const [k, us] of [...byFile].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`    ${pct(us).padStart(6)}  ${k}`);
}
