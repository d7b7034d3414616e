import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { KonbiniError } from '@konbini/protocol';
import { developmentKeyWrapper, pkcs11KeyWrapper, REPLICA_WRAP_KEY_LABEL } from '../../src/crypto/key-wrapper.js';
import { buildApp, initHsm, loadDataset, migrate, openPgliteDb, residentById, signerConfigFromHsmDir, type Pkcs11SignerConfig } from '../../src/index.js';
import { P, acquireModule, findObjects, findTokenSlot } from '../../src/sign/pkcs11.js';
import { testDataset } from '../helpers/dataset.js';
import { makeTestPki } from '../helpers/pki.js';
import { CITY, makeLgpki, tempDir } from '../sign/helpers.js';

/*
 * The replica's data key is wrapped by an AES key inside the city's PKCS#11 token
 * (SoftHSM2, made by `hsm init`). Without the token, its PIN or that key, the
 * server does not start: REPLICA_KEY_UNAVAILABLE, before it listens.
 */

const work = tempDir('konbini-replica-key-');
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const hsmDir = join(work, 'hsm');
initHsm({ pki: makeLgpki(work), out: hsmDir });
const config = signerConfigFromHsmDir(hsmDir, CITY);
const { dataset } = testDataset(new Date());
const someone = dataset.residents[0]!;
const tls = makeTestPki();
t.teardown(() => tls.cleanup());
const silent = { level: 'silent' as const, stream: pino.destination('/dev/null') };

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return err instanceof KonbiniError ? err.code : `not a KonbiniError: ${String(err)}`;
  }
  return undefined;
}

async function startServer(dataDir: string, signer: Pkcs11SignerConfig) {
  return buildApp({ tls: { key: tls.server.key, cert: tls.server.cert, ca: tls.ca }, dataset, db: { dataDir }, signer, log: silent });
}

t.test('hsm init puts one non-extractable AES wrapping key on the token, and keeps it', async (t) => {
  const lease = acquireModule(config.module, config.softhsmConf);
  t.teardown(() => lease.release());
  const p11 = lease.p11;
  const session = p11.C_OpenSession(findTokenSlot(p11, config.tokenLabel)!, P.CKF_SERIAL_SESSION);
  t.teardown(() => p11.C_CloseSession(session));
  p11.C_Login(session, P.CKU_USER, 'value' in config.pin ? config.pin.value : (await import('node:fs')).readFileSync((config.pin as { file: string }).file, 'utf8').trim());
  t.teardown(() => p11.C_Logout(session));
  const keys = findObjects(p11, session, [{ type: P.CKA_LABEL, value: REPLICA_WRAP_KEY_LABEL }]);
  t.equal(keys.length, 1);
  const attrs = p11.C_GetAttributeValue(session, keys[0]!, [{ type: P.CKA_EXTRACTABLE }, { type: P.CKA_SENSITIVE }, { type: P.CKA_WRAP }, { type: P.CKA_UNWRAP }, { type: P.CKA_ENCRYPT }]);
  t.same(attrs.map((a) => (a.value as Buffer)[0]), [0, 1, 1, 1, 0], 'not extractable, sensitive, wrap/unwrap only');
});

t.test('a replica whose key the token wraps: opens again through the token, never through the development wrapper', async (t) => {
  const dataDir = join(work, 'replica-1');
  const db = await openPgliteDb({ dataDir, keyWrapper: pkcs11KeyWrapper(config) });
  await migrate(db);
  await loadDataset(db, dataset);
  const [row] = await db.query<{ wrapper: string; wrapped_key: Uint8Array }>('SELECT wrapper, wrapped_key FROM replica_keys');
  t.equal(row!.wrapper, `pkcs11:${config.tokenLabel}/${REPLICA_WRAP_KEY_LABEL}`);
  t.equal(row!.wrapped_key.length, 40, 'RFC 5649 wrapping of 32 bytes');
  await db.close();

  const again = await openPgliteDb({ dataDir, keyWrapper: pkcs11KeyWrapper(config) });
  await migrate(again);
  t.equal((await residentById(again, someone.id))?.familyName, someone.familyName, 'unwrapped by the token after a restart');
  await again.close();

  const dev = await openPgliteDb({ dataDir, keyWrapper: developmentKeyWrapper() });
  t.equal(await codeOf(migrate(dev)), 'REPLICA_KEY_UNAVAILABLE', 'the development wrapper cannot open it');
  await dev.close();

  // the server starts on it with the token, and issues from it
  const app = await startServer(dataDir, config);
  t.equal((await residentById(app.replica, someone.id))?.familyName, someone.familyName);
  await app.close();
});

t.test('the server refuses to start when the token is missing: REPLICA_KEY_UNAVAILABLE', async (t) => {
  const dataDir = join(work, 'replica-2');
  t.equal(await codeOf(startServer(dataDir, { ...config, tokenLabel: 'konbini-docsign-000000' })), 'REPLICA_KEY_UNAVAILABLE', 'no token with that label');
  t.equal(await codeOf(startServer(dataDir, { ...config, softhsmConf: join(work, 'no-such-hsm', 'softhsm2.conf') })), 'REPLICA_KEY_UNAVAILABLE', 'no token store at all');
  t.equal(await codeOf(startServer(dataDir, { ...config, pin: { value: '00000000' } })), 'REPLICA_KEY_UNAVAILABLE', 'the token refuses the PIN');
});

t.test('the server refuses to start when the wrapping key or the data key is missing: REPLICA_KEY_UNAVAILABLE', async (t) => {
  const dataDir = join(work, 'replica-3');
  const db = await openPgliteDb({ dataDir, keyWrapper: pkcs11KeyWrapper(config) });
  await migrate(db);
  await loadDataset(db, dataset);
  // the stored data key row removed while resident rows remain: no new key is made over unreadable data
  await db.query('DELETE FROM replica_keys');
  await db.close();
  t.equal(await codeOf(startServer(dataDir, config)), 'REPLICA_KEY_UNAVAILABLE', 'data key missing');

  // the wrapping key destroyed in the token (a token re-initialised without hsm init)
  const other = tempDir('konbini-replica-key-other-');
  t.teardown(() => rmSync(other, { recursive: true, force: true }));
  const otherHsm = join(other, 'hsm');
  initHsm({ pki: makeLgpki(other), out: otherHsm });
  const otherConfig = signerConfigFromHsmDir(otherHsm, CITY);
  const fresh = join(work, 'replica-4');
  const app = await startServer(fresh, otherConfig);
  await app.close();
  const lease = acquireModule(otherConfig.module, otherConfig.softhsmConf);
  try {
    const p11 = lease.p11;
    const session = p11.C_OpenSession(findTokenSlot(p11, otherConfig.tokenLabel)!, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
    p11.C_Login(session, P.CKU_USER, (await import('node:fs')).readFileSync((otherConfig.pin as { file: string }).file, 'utf8').trim());
    for (const h of findObjects(p11, session, [{ type: P.CKA_LABEL, value: REPLICA_WRAP_KEY_LABEL }])) p11.C_DestroyObject(session, h);
    p11.C_Logout(session);
    p11.C_CloseSession(session);
  } finally {
    lease.release();
  }
  t.equal(await codeOf(startServer(fresh, otherConfig)), 'REPLICA_KEY_UNAVAILABLE', 'wrapping key missing from the token');
  t.equal(await codeOf(startServer(join(work, 'replica-5'), otherConfig)), 'REPLICA_KEY_UNAVAILABLE', 'not even a new replica starts without it');
});
