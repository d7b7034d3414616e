import { randomBytes, randomUUID } from 'node:crypto';
import { CHALLENGE_TTL_MS, KonbiniError, NONCE_BYTES } from '@konbini/protocol';

export interface Challenge {
  sessionId: string;
  kioskId: string;
  nonce: Buffer;
  issuedAt: number;
  expiresAt: number;
}

/**
 * Single-use challenges bound to one kiosk and one session (model: Web eID's
 * nonce store). A challenge is consumed by the first attempt to use it, right or
 * wrong, so a signature can never be tried twice against the same nonce.
 */
export class ChallengeStore {
  private readonly live = new Map<string, Challenge>();
  /** Consumed session ids, kept until their expiry so a replay gets its own code. */
  private readonly used = new Map<string, number>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly ttlMs: number = CHALLENGE_TTL_MS,
  ) {}

  issue(kioskId: string): Challenge {
    this.sweep();
    const issuedAt = this.now();
    const challenge: Challenge = {
      sessionId: randomUUID(),
      kioskId,
      nonce: randomBytes(NONCE_BYTES),
      issuedAt,
      expiresAt: issuedAt + this.ttlMs,
    };
    this.live.set(challenge.sessionId, challenge);
    return challenge;
  }

  /** Take the challenge for this session; it can never be taken again. */
  consume(sessionId: string, kioskId: string): Challenge {
    const challenge = this.live.get(sessionId);
    if (!challenge) {
      if (this.used.has(sessionId)) throw new KonbiniError('CHALLENGE_REPLAYED', { sessionId });
      throw new KonbiniError('CHALLENGE_UNKNOWN', { sessionId });
    }
    if (challenge.kioskId !== kioskId) {
      // Not consumed: another kiosk guessing a session id must not be able to burn it.
      throw new KonbiniError('CHALLENGE_WRONG_KIOSK', { sessionId, kioskId });
    }
    this.live.delete(sessionId);
    this.used.set(sessionId, challenge.expiresAt);
    if (this.now() > challenge.expiresAt) throw new KonbiniError('CHALLENGE_EXPIRED', { sessionId });
    return challenge;
  }

  /** Drop a session's challenge (kiosk disconnected). */
  discard(sessionId: string): void {
    this.live.delete(sessionId);
  }

  get size(): number {
    return this.live.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, c] of this.live) if (now > c.expiresAt) this.live.delete(id);
    for (const [id, until] of this.used) if (now > until) this.used.delete(id);
  }
}
