import { createPrivateKey, sign } from 'node:crypto';
import t from 'tap';
import { challengeSignedData, type CardScenario } from '@konbini/protocol';
import { pkiFiles, startStack } from '../e2e/stack.js';
import { makeCardCert, makeEcCardCert, pemToB64 } from './cert-factory.js';
import { CERT_CASES, type CertMaterial } from './cert.cases.js';
import { challenge, fixtureCard, RawKiosk } from './helpers.js';

/*
 * The card-certificate corpus: session.start with each certificate against the
 * real centre. A refusal comes before any challenge, and the connection stays
 * usable (the next good card gets a challenge).
 */

const ca = pkiFiles('jpki-auth-ca');
const day = 86_400_000;
const material: CertMaterial = {
  card: (s: CardScenario) => fixtureCard(s),
  pki: (name) => pemToB64(pkiFiles(name).cert),
  made: {
    notYetValid: makeCardCert(ca, { notBefore: new Date(Date.now() + 30 * day), notAfter: new Date(Date.now() + 400 * day) }),
    wrongKeyUsage: makeCardCert(ca, { keyUsage: { digitalSignature: true, keyEncipherment: true } }),
    nonRepudiation: makeCardCert(ca, { keyUsage: { digitalSignature: true, nonRepudiation: true } }),
    ec: makeEcCardCert(ca),
    unknownToDirectory: makeCardCert(ca),
  },
};

const stack = await startStack();
t.teardown(() => stack.close());
const good = fixtureCard('ok').jpki.authCertDer;

function signWith(pkcs8: string, kioskId: string, nonce: string): string {
  const key = createPrivateKey({ key: Buffer.from(pkcs8, 'base64'), format: 'der', type: 'pkcs8' });
  return sign('sha256', challengeSignedData(stack.centreOrigin, kioskId, Buffer.from(nonce, 'base64')), key).toString('base64');
}

t.test(`${CERT_CASES.length} card-certificate cases`, async (t) => {
  let n = 0;
  for (const c of CERT_CASES) {
    const kioskId = `K000${(n++ % 4) + 1}`;
    await t.test(c.name, { todo: c.todo }, async (t) => {
      const k = await RawKiosk.connect(stack.centreUrl, stack.kioskTls(`kiosk-${kioskId}`), kioskId);
      try {
        k.send({ type: 'session.start', authCert: c.authCert(material) });
        let m = await k.next();
        if (c.signWith) {
          t.equal(m.type, 'session.challenge', 'the certificate itself passes: a challenge');
          k.send({ type: 'session.auth', sessionId: m.sessionId, signature: signWith(c.signWith(material), kioskId, m.nonce as string) });
          m = await k.next(15000);
        }
        t.match(m, { type: 'error', code: c.code }, `answered ${c.code}`);
        await new Promise((r) => setTimeout(r, 30));
        t.same(k.pending(), [], 'no further frame (no challenge after a refusal)');
        const ch = await challenge(k, good);
        t.ok(ch.sessionId, 'the connection is still usable: a good card gets a challenge');
      } finally {
        k.close();
      }
    });
  }
});
