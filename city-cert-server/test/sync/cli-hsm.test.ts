import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { initHsm } from '../../src/index.js';
import { cityRows } from '../../src/sync/generate.js';
import { CITY as TOKEN_CITY, makeLgpki, tempDir } from '../sign/helpers.js';
import { CITY } from './helpers.js';

/*
 * The staff commands with the city's token (--hsm): the replica's data key is
 * wrapped by the token, and the replica cannot be opened without it.
 */

const cli = resolve(import.meta.dirname, '../../src/cli.ts');
const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', '--conditions=konbini-source', cli, ...args], { encoding: 'utf8' });

t.test('sync full --hsm: the token wraps the key; status without it is refused with REPLICA_KEY_UNAVAILABLE', async (t) => {
  const work = tempDir('konbini-cli-hsm-');
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const hsm = join(work, 'hsm');
  initHsm({ pki: makeLgpki(work), out: hsm });
  const file = join(work, 'city.jsonl');
  writeFileSync(file, `${[...cityRows({ residents: 50, seed: 3, cityCode: CITY })].map((r) => JSON.stringify(r)).join('\n')}\n`);
  const db = join(work, 'db');

  const load = run('sync', 'full', file, '--db', db, '--hsm', hsm, '--city', TOKEN_CITY);
  t.equal(load.status, 0, load.stderr);
  t.match(JSON.parse(load.stdout), { residents: 50 });

  const withToken = run('status', '--db', db, '--hsm', hsm, '--json');
  t.equal(withToken.status, 0, withToken.stderr);
  t.match(JSON.parse(withToken.stdout), { cityCode: CITY, counts: { residents: 50 } });

  const without = run('status', '--db', db, '--json');
  t.equal(without.status, 1, 'refused without the token');
  t.match(without.stderr, 'REPLICA_KEY_UNAVAILABLE');
  t.equal(without.stdout, '', 'nothing printed as a result');
});
