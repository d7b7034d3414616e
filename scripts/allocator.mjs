import { existsSync } from 'node:fs';

/*
 * The centre holds one mutual-TLS socket per idle kiosk (20,000 per instance is the
 * target), and most of a socket's memory is OpenSSL's, outside the JS heap. With glibc's
 * malloc those small per-connection allocations leave the process ≈ 5 % larger than
 * with jemalloc at 19,900 sockets (BENCHMARKS.md, "Idle kiosk sockets"), so the centre is started with
 * jemalloc preloaded when Debian's libjemalloc2 is installed (scripts/setup.sh installs
 * it). KONBINI_ALLOCATOR=system keeps glibc's. Nothing else changes: same Node, same code.
 */
const CANDIDATES = ['/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2'];

/** The jemalloc library found here, or undefined. */
export function jemallocPath() {
  return CANDIDATES.find((p) => existsSync(p));
}

/** `env` with jemalloc preloaded (unless KONBINI_ALLOCATOR=system, or not installed); and which allocator that is. */
export function centreAllocatorEnv(env = process.env) {
  const lib = jemallocPath();
  if (env.KONBINI_ALLOCATOR === 'system' || !lib) return { env: { ...env }, allocator: 'glibc' };
  if ((env.LD_PRELOAD ?? '').includes('jemalloc')) return { env: { ...env }, allocator: 'jemalloc' };
  return { env: { ...env, LD_PRELOAD: [lib, env.LD_PRELOAD].filter(Boolean).join(' ') }, allocator: 'jemalloc' };
}
