import { KosekiUsageError } from '../koseki/cli.js';

/** `--render-workers <n>` (0-16; 0 = render in the main thread). */
export function renderWorkersOption(value: string | undefined): { renderWorkers?: number } {
  if (value === undefined) return {};
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 16) throw new KosekiUsageError('--render-workers is 0-16');
  return n > 0 ? { renderWorkers: n } : {};
}
