import type { Challenge, ChallengeStore } from './challenge-store.js';
import type { CardValidator, ValidatedCard } from './card-validator.js';

/**
 * The resident's login at a kiosk, in two steps. start: the certificate passes the
 * certificate validators and a challenge is issued for this kiosk. finish: the
 * challenge is consumed (single use, unexpired, this kiosk's), the certificate is
 * validated again (time has passed, the CRL may have changed) and the card's
 * signature over H(origin#kioskId) || H(nonce) is verified. The first failure wins.
 */
export class CardAuthenticator {
  constructor(
    readonly validator: CardValidator,
    readonly challenges: ChallengeStore,
    private readonly origin: () => string,
  ) {}

  start(kioskId: string, authCert: string): { card: ValidatedCard; challenge: Challenge } {
    const card = this.validator.validateCertificate(authCert);
    const challenge = this.challenges.issue(kioskId);
    return { card, challenge };
  }

  /** `started` is what start() returned for this session (or the certificate again, base64). */
  finish(kioskId: string, sessionId: string, started: ValidatedCard | string, signature: string): ValidatedCard {
    const challenge = this.challenges.consume(sessionId, kioskId);
    const card = typeof started === 'string' ? this.validator.validateCertificate(started) : this.validator.revalidate(started);
    this.validator.checkChallengeSignature(card, signature, { origin: this.origin(), kioskId, nonce: challenge.nonce });
    return card;
  }
}
