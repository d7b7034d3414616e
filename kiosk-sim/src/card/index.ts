export { VirtualCard, type PinId, type PersistFn, type VirtualCardOptions } from './virtual-card.js';
export { VpcdBridge, FrameDecoder, frame, vpcdAnswer, VPCD_DEFAULT_HOST, VPCD_SLOT0_PORT, type VpcdBridgeOptions, type VpcdBridgeStats } from './vpcd-bridge.js';
export { readCardFile, writeCardFileAtomic } from './card-file.js';
export { CARD_ATR, JPKI_AID, CARD_INFO_AID } from './card-files.js';
export { parseCommandApdu, commandApdu, response, swOf, dataOf, SW, type CommandApdu } from './apdu.js';
export {
  checkCardProfile, AUTH_PIN_MAX_TRIES, SIGN_PASSWORD_MAX_TRIES, CARD_INFO_PIN_MAX_TRIES, FOUR_DIGIT_PIN, SIGN_PASSWORD,
  type CardProfile,
} from './profile.js';
