/**
 * The card file: everything a virtual 個人番号カード is. The type is `CardProfile` from
 * `@konbini/protocol` (protocol/src/card-profile.ts); here are the checks the card
 * applies when it loads one.
 */
import { CARD_MAX_TRIES, CARD_SCENARIOS, type CardProfile } from '@konbini/protocol';

export type { CardProfile };

export const AUTH_PIN_MAX_TRIES: number = CARD_MAX_TRIES.authPinTries;
export const SIGN_PASSWORD_MAX_TRIES: number = CARD_MAX_TRIES.signPasswordTries;
export const CARD_INFO_PIN_MAX_TRIES: number = CARD_MAX_TRIES.cardInfoPinTries;

/** 利用者証明用 PIN and 券面事項入力補助 PIN: 4 digits. */
export const FOUR_DIGIT_PIN = /^[0-9]{4}$/;
/** 署名用パスワード: 6-16 upper-case letters and digits. */
export const SIGN_PASSWORD = /^[A-Z0-9]{6,16}$/;

/** Throws a plain Error naming the first field that is wrong (never its value). */
export function checkCardProfile(p: unknown): asserts p is CardProfile {
  const fail = (field: string): never => {
    throw new Error(`card profile: invalid ${field}`);
  };
  const o = p as CardProfile;
  if (!o || typeof o !== 'object') fail('profile');
  if (o.version !== 1) fail('version');
  for (const k of ['cardId', 'cityCode', 'residentId', 'holderName'] as const) if (typeof o[k] !== 'string') fail(k);
  if (!CARD_SCENARIOS.includes(o.scenario)) fail('scenario');
  if (!o.jpki || typeof o.jpki !== 'object') fail('jpki');
  for (const k of ['authCertDer', 'authCaCertDer', 'authKeyPkcs8', 'signCertDer', 'signCaCertDer', 'signKeyPkcs8'] as const) {
    if (typeof o.jpki[k] !== 'string' || o.jpki[k].length === 0) fail(`jpki.${k}`);
  }
  if (typeof o.jpki.authPin !== 'string' || !FOUR_DIGIT_PIN.test(o.jpki.authPin)) fail('jpki.authPin');
  if (typeof o.jpki.signPassword !== 'string' || !SIGN_PASSWORD.test(o.jpki.signPassword)) fail('jpki.signPassword');
  if (!o.cardInfo || typeof o.cardInfo !== 'object') fail('cardInfo');
  if (typeof o.cardInfo.pin !== 'string' || !FOUR_DIGIT_PIN.test(o.cardInfo.pin)) fail('cardInfo.pin');
  if (typeof o.cardInfo.myNumber !== 'string' || !/^[0-9]{12}$/.test(o.cardInfo.myNumber)) fail('cardInfo.myNumber');
  if (typeof o.cardInfo.name !== 'string') fail('cardInfo.name');
  if (typeof o.cardInfo.address !== 'string') fail('cardInfo.address');
  if (typeof o.cardInfo.birthDate !== 'string' || !/^[0-9]{8}$/.test(o.cardInfo.birthDate)) fail('cardInfo.birthDate');
  if (!['1', '2', '9'].includes(o.cardInfo.sex)) fail('cardInfo.sex');
  if (!o.state || typeof o.state !== 'object') fail('state');
  const tries = (v: unknown, max: number) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= max;
  if (!tries(o.state.authPinTries, AUTH_PIN_MAX_TRIES)) fail('state.authPinTries');
  if (!tries(o.state.signPasswordTries, SIGN_PASSWORD_MAX_TRIES)) fail('state.signPasswordTries');
  if (!tries(o.state.cardInfoPinTries, CARD_INFO_PIN_MAX_TRIES)) fail('state.cardInfoPinTries');
}
