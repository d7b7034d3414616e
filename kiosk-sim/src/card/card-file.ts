/** Reading and atomically writing card files (JSON card profiles). */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { checkCardProfile, type CardProfile } from './profile.js';

export function readCardFile(path: string): CardProfile {
  const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
  checkCardProfile(parsed);
  return parsed;
}

/**
 * Writes the profile next to `path` under a temporary name, fsyncs it and renames it
 * over `path`: a reader of the file sees the old or the new card, never half of one.
 */
export function writeCardFileAtomic(path: string, profile: CardProfile): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(profile, null, 2) + '\n');
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
  try {
    const dfd = openSync(dirname(path), 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  } catch { /* directory fsync is best effort */ }
}
