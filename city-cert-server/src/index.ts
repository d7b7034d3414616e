export { buildApp, DEFAULT_ALLOWED_CLIENTS, type CityCertServerOptions } from './http/app.js';
export { createLogger, cardSerialSha256, LOG_FIELDS } from './http/logging.js';
export * from './replica/index.js';
export * as rules from './rules/index.js';
export { householdOrder, printedPersons, residentRecordModel } from './issuance/model.js';
export { initHsm, signerConfigFromHsmDir, tokenLabelOf, Pkcs11Signer, type Pkcs11SignerConfig, type SignerOption } from './sign/index.js';
