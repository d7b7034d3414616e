/**
 * Incident: "a single-server build ran on several servers". Two centre instances
 * and two city-server workers share one PostgreSQL server (the centre's ledger and
 * directory in one database, the city's replica and 交付記録 in another). Kiosks
 * issue through both centres at once, each centre routed to its own city worker.
 * Every sheet must name the resident who asked, every issuance id must be unique,
 * and the one ledger must hold every issuance, hash-chained, charged only when
 * printed.
 *
 * Needs the PostgreSQL server of this machine kind (127.0.0.1:5432, user postgres,
 * trust); the test creates its two databases and drops them.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import pg from 'pg';
import { buildApp as buildCity, openPgDb, signerConfigFromHsmDir } from 'city-cert-server';
import { buildApp as buildCentre } from 'issuance-center';
import type { CardProfile } from '@konbini/protocol';
import { VirtualCard } from '../../kiosk-sim/src/card/virtual-card.js';
import { InProcessReader } from '../../kiosk-sim/src/reader/in-process-reader.js';
import { CentreConnection } from '../../kiosk-sim/src/centre/connection.js';
import { TrayPrinter } from '../../kiosk-sim/src/printer/printer.js';
import { runIssuance } from '../../kiosk-sim/src/session/issuance.js';
import { ROOT, cardProfiles, centreDirectory, cityDataset, devCentreOptions, pkiFiles, requireFixtures } from './stack.js';

const run = promisify(execFile);
const PG = 'postgres://postgres@127.0.0.1:5432';
const plain = (s: string) => s.replace(/[\u{e0100}-\u{e01ef}\s\u3000]/gu, '');

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: `${PG}/postgres` });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

const reachable = await admin('SELECT 1').then(
  () => true,
  () => false,
);

t.test('two centres and two city workers on one PostgreSQL: no foreign document, one consistent ledger', { skip: reachable ? false : 'no PostgreSQL server on 127.0.0.1:5432 (this machine kind has one: pg_ctlcluster … main start)' }, async (t) => {
  requireFixtures();
  const suffix = randomBytes(4).toString('hex');
  const cityDbName = `konbini_e2e_city_${suffix}`;
  const centreDbName = `konbini_e2e_centre_${suffix}`;
  await admin(`CREATE DATABASE ${cityDbName}`);
  await admin(`CREATE DATABASE ${centreDbName}`);
  const closers: (() => Promise<unknown>)[] = [];
  t.teardown(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await admin(`DROP DATABASE IF EXISTS ${cityDbName} WITH (FORCE)`);
    await admin(`DROP DATABASE IF EXISTS ${centreDbName} WITH (FORCE)`);
  });

  const directory = centreDirectory();
  const cityCode = directory.cities[0]!.code;
  const dataset = cityDataset(cityCode);
  const lgwanCa = pkiFiles('lgwan-ca').cert;
  const cityTls = pkiFiles(`lgwan-city-${cityCode}`);

  // Two city workers, one replica: started one after the other, as a deployment would.
  const cityPorts: number[] = [];
  for (let w = 0; w < 2; w++) {
    const db = await openPgDb({ connectionString: `${PG}/${cityDbName}`, max: 4 });
    const city = await buildCity({
      tls: { key: cityTls.key, cert: cityTls.cert, ca: lgwanCa },
      dataset,
      db: { instance: db },
      log: { level: 'silent' },
      signer: signerConfigFromHsmDir(join(ROOT, 'var/hsm'), cityCode),
    });
    await city.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => db.close());
    closers.push(() => city.close());
    cityPorts.push((city.server.address() as AddressInfo).port);
  }

  // Two centre instances, one ledger and directory; centre i routes to city worker i.
  const centres: { url: string; origin: string }[] = [];
  for (let i = 0; i < 2; i++) {
    const centre = buildCentre({
      ...devCentreOptions(cityPorts[i], directory),
      ledgerDb: { url: `${PG}/${centreDbName}` },
      // twelve kiosks over four kiosk certificates, issuing back to back
      kioskRate: { burst: 1_000_000, perSecond: 1_000_000 },
      logger: false,
    });
    await centre.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => centre.close());
    const port = (centre.server.address() as AddressInfo).port;
    centres.push({ url: `wss://localhost:${port}/v1/kiosk`, origin: `wss://localhost:${port}` });
  }

  // 12 kiosks, half on each centre, each issuing 3 times for its own resident.
  const cards = cardProfiles().filter((c) => c.scenario === 'ok' && c.cityCode === cityCode).slice(0, 12);
  const tmp = mkdtempSync(join(tmpdir(), 'konbini-multi-'));
  closers.push(async () => rmSync(tmp, { recursive: true, force: true }));
  const kioskIds = ['K0001', 'K0002', 'K0003', 'K0004'];
  const issued: { card: CardProfile; issuanceId: string; tray: string; charged: number; fee: number }[] = [];
  await Promise.all(
    cards.map(async (card, k) => {
      const kioskId = kioskIds[k % kioskIds.length]!;
      const tlsFiles = pkiFiles(`kiosk-${kioskId}`);
      const target = centres[k % 2]!;
      const conn = await CentreConnection.connect(target.url, { key: tlsFiles.key, cert: tlsFiles.cert, ca: pkiFiles('kiosk-line-ca').cert });
      const tray = join(tmp, `tray-${k}`);
      const printer = new TrayPrinter(join(tmp, `spool-${k}`), tray);
      try {
        for (let n = 0; n < 3; n++) {
          const reader = new InProcessReader();
          reader.insert(VirtualCard.fromProfile(structuredClone(card)));
          const r = await runIssuance({ kioskId, centreOrigin: target.origin }, reader, conn, printer, {
            step: (name) => {
              if (name === 'remove-card') reader.remove();
            },
            pin: async () => card.jpki.authPin,
            choose: async () => ({ certType: 'resident-record', options: { scope: 'self' }, copies: 1 }),
            pay: async (fee) => ({ paid: fee, change: 0 }),
          });
          await reader.close();
          issued.push({ card, issuanceId: r.issuanceId, tray, charged: r.charged, fee: r.fee });
        }
      } finally {
        conn.close();
      }
    }),
  );

  t.equal(issued.length, cards.length * 3, 'every issuance printed');
  t.equal(new Set(issued.map((i) => i.issuanceId)).size, issued.length, 'every issuance id unique across both centres');
  for (const i of issued) t.equal(i.charged, i.fee, `${i.issuanceId.slice(0, 8)}: charged once, the fee`);
  let foreign = 0;
  for (const i of issued) {
    const text = plain((await run('pdftotext', [join(i.tray, `${i.issuanceId}.pdf`), '-'], { encoding: 'utf8' })).stdout);
    const me = dataset.residents.find((r) => r.id === i.card.residentId)!;
    const others = dataset.residents.filter((r) => r.householdId !== me.householdId).map((r) => plain(`${r.familyName}${r.givenName}`));
    if (!text.includes(plain(`${me.familyName}${me.givenName}`)) || others.some((o) => o !== plain(`${me.familyName}${me.givenName}`) && text.includes(o))) foreign++;
  }
  t.equal(foreign, 0, 'no sheet names anyone but the resident who asked');
  for (let k = 0; k < cards.length; k++) t.equal(readdirSync(join(tmp, `tray-${k}`)).length, 3, `tray ${k}: its three documents only`);

  // The one ledger: every issuance once, all printed, and its chain verifies.
  const c = new pg.Client({ connectionString: `${PG}/${centreDbName}` });
  await c.connect();
  try {
    const tables = (await c.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)).rows.map((r) => r.table_name as string);
    t.ok(tables.includes('ledger_record'), 'the ledger is in the shared database');
    const rows = (await c.query(`SELECT issuance_id, outcome FROM ledger_record`)).rows as { issuance_id: string; outcome: string }[];
    t.same(rows.map((r) => r.issuance_id).sort(), issued.map((i) => i.issuanceId).sort(), 'the shared ledger holds exactly these issuances, once each');
    t.ok(rows.every((r) => r.outcome === 'printed'), 'all recorded printed');
  } finally {
    await c.end();
  }
  const verify = await run(process.execPath, [join(ROOT, 'issuance-center/bin/issuance-center.js'), 'ledger', 'verify', '--db', `${PG}/${centreDbName}`, '--json'], { encoding: 'utf8' }).catch(
    (e: { stdout: string; code: number }) => ({ stdout: e.stdout, code: e.code }),
  );
  t.match(verify.stdout, /"ok"\s*:\s*true/, `ledger verify: one intact chain (${verify.stdout.slice(0, 200)})`);
});
