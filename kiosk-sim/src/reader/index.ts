export { type CardReader, type CardPresence, abortable } from './card-reader.js';
export { InProcessReader, type InProcessReaderOptions } from './in-process-reader.js';
export { PcscReader, pcscErrorCode, type PcscReaderOptions } from './pcsc-reader.js';
export {
  JpkiClient, JPKI_AP_AID, SHA256_DIGEST_INFO_PREFIX, EF_AUTH_CERT, EF_AUTH_CA_CERT, EF_AUTH_KEY, EF_AUTH_PIN, type ApduResult,
} from './jpki-client.js';
