import t from 'tap';
import { KonbiniError } from '@konbini/protocol';
import { ChallengeStore } from '../../src/auth/challenge-store.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof KonbiniError ? err.code : 'not-a-konbini-error';
  }
  return undefined;
}

t.test('a challenge is 32 random bytes, bound to its kiosk, and usable once', async (t) => {
  let now = 1_000_000;
  const store = new ChallengeStore(() => now);
  const a = store.issue('K0001');
  const b = store.issue('K0001');
  t.equal(a.nonce.length, 32);
  t.not(a.nonce.toString('hex'), b.nonce.toString('hex'), 'nonces differ');
  t.not(a.sessionId, b.sessionId);
  t.equal(a.expiresAt - a.issuedAt, 5 * 60 * 1000, 'lives 5 minutes');
  const got = store.consume(a.sessionId, 'K0001');
  t.same(got.nonce, a.nonce);
  t.equal(code(() => store.consume(a.sessionId, 'K0001')), 'CHALLENGE_REPLAYED', 'second use is a replay');
});

t.test('another kiosk cannot use or burn a challenge', async (t) => {
  const store = new ChallengeStore();
  const a = store.issue('K0001');
  t.equal(code(() => store.consume(a.sessionId, 'K0002')), 'CHALLENGE_WRONG_KIOSK');
  t.ok(store.consume(a.sessionId, 'K0001'), 'the owner still can');
});

t.test('an expired challenge is refused and cannot be retried', async (t) => {
  let now = 0;
  const store = new ChallengeStore(() => now);
  const a = store.issue('K0001');
  now = 5 * 60 * 1000 + 1;
  t.equal(code(() => store.consume(a.sessionId, 'K0001')), 'CHALLENGE_EXPIRED');
  t.equal(code(() => store.consume(a.sessionId, 'K0001')), 'CHALLENGE_REPLAYED');
});

t.test('unknown session ids and sweeping', async (t) => {
  let now = 0;
  const store = new ChallengeStore(() => now);
  t.equal(code(() => store.consume('00000000-0000-4000-8000-000000000000', 'K0001')), 'CHALLENGE_UNKNOWN');
  store.issue('K0001');
  store.issue('K0001');
  t.equal(store.size, 2);
  now = 10 * 60 * 1000;
  store.issue('K0001');
  t.equal(store.size, 1, 'expired challenges are swept when new ones are issued');
});
