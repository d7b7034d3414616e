/**
 * `kiosk-sim issue` from the command line against the centre and city in this
 * process: household members chosen by 続柄 and year of birth, and the kiosk's own
 * trust anchor for document signatures from the config (`documentSignerCa`).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cardFor, FIXTURES, PKI, startStack } from '../../../test/e2e/stack.js';
import { cli, writeKioskConfig } from '../helpers/cli.js';

const stack = await startStack();
t.teardown(() => stack.close());
const card = cardFor('ok');
const manifest = JSON.parse(readFileSync(join(PKI, 'manifest.json'), 'utf8')) as { certs: Record<string, { cert: string; key: string }> };
const pem = (name: string) => join(PKI, manifest.certs[name]!.cert);
const { config } = writeKioskConfig(join(stack.tmp, 'cli'), {
  centreUrl: stack.centreUrl,
  centreOrigin: stack.centreOrigin,
  tls: { key: join(PKI, manifest.certs['kiosk-K0001']!.key), cert: pem('kiosk-K0001'), ca: pem('kiosk-line-ca') },
  cards: [{ cardId: card.cardId, from: join(FIXTURES, 'cards', `${card.cardId}.json`) }],
});
const withCa = (ca: string) => {
  const path = join(stack.tmp, `kiosk-${ca}.json`);
  writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(config, 'utf8')), documentSignerCa: pem(ca) }));
  return path;
};
const issue = (extra: string[], cfg = config) =>
  cli(['issue', '--card', card.cardId, '--pin', card.jpki.authPin, '--type', 'resident-record', '--config', cfg, ...extra]);

t.test('--scope members --members self,子:2017: the holder and the youngest child, nobody else', async (t) => {
  const holder = stack.dataset.residents.find((r) => r.id === card.residentId)!;
  const household = stack.dataset.residents.filter((r) => r.householdId === holder.householdId && r.status === 'active');
  const youngest = household.filter((r) => r.relationship === '子').sort((a, b) => b.birthDate.localeCompare(a.birthDate))[0]!;
  const tray = join(stack.tmp, 'tray-members');
  const r = await issue(['--tray', tray, '--scope', 'members', '--members', `self,子:${youngest.birthDate.slice(0, 4)}`]);
  t.equal(r.code, 0, r.out + r.err);
  t.match(r.out, /^members 世帯主:1979\(self\) 妻:1982 /m, 'the household as the city listed it');
  t.match(r.out, /^printed issuance=/m);
  const sheet = join(tray, readdirSync(tray)[0]!);
  const text = execFileSync('pdftotext', ['-layout', sheet, '-'], { encoding: 'utf8' }).replace(/\s+/g, '');
  for (const m of household) t.equal(text.includes(m.givenName), m === holder || m === youngest, `${m.relationship} ${m.birthDate.slice(0, 4)}`);
});

t.test('--members naming nobody in the household: refused before anything is requested', async (t) => {
  const tray = join(stack.tmp, 'tray-refused');
  const none = await issue(['--tray', tray, '--scope', 'members', '--members', '妻:1900']);
  t.equal(none.code, 1);
  t.match(none.out + none.err, /error OPTION_NOT_ALLOWED/);
  t.notMatch(none.out, /step requesting/, 'nothing requested');
  const usage = await issue(['--tray', tray, '--scope', 'members']);
  t.equal(usage.code, 2, 'members scope without --members is a usage error');
});

t.test('documentSignerCa: the LGPKI-sim CA prints; another CA refuses the city\'s signature, no print', async (t) => {
  const tray = join(stack.tmp, 'tray-ca');
  const good = await issue(['--tray', tray], withCa('lgpki-ca'));
  t.equal(good.code, 0, good.out + good.err);
  const bad = await issue(['--tray', join(stack.tmp, 'tray-ca-bad')], withCa('lgwan-ca'));
  t.equal(bad.code, 1);
  t.match(bad.out + bad.err, /error DOCUMENT_SIGNATURE_INVALID: 証明書データの電子署名を確認できないため印刷を中止しました/);
  t.notMatch(bad.out, /step paid/, 'never paid');
  let printed: string[] = [];
  try {
    printed = readdirSync(join(stack.tmp, 'tray-ca-bad'));
  } catch {
    /* never made */
  }
  t.same(printed, [], 'no paper');
});

t.test('a type whose menu entry offers no scope (印鑑登録証明書) is asked for without one and prints', async (t) => {
  // the CLI's --scope defaults to self; sending it for a type without that option was refused (OPTION_NOT_ALLOWED)
  const tray = join(stack.tmp, 'tray-seal');
  const r = await issue(['--tray', tray, '--type', 'seal']);
  t.equal(r.code, 0, r.out + r.err);
  t.match(r.out, /^printed issuance=/m);
  const text = execFileSync('pdftotext', ['-layout', join(tray, readdirSync(tray)[0]!), '-'], { encoding: 'utf8' }).replace(/\s+/g, '');
  t.match(text, /印鑑登録証明書/);
});
