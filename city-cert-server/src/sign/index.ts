export { Pkcs11Signer, TOKEN_OBJECTS, type DocumentSigner, type Pkcs11SignerConfig, type PinSource } from './signer.js';
export { initHsm, type HsmInitOptions, type HsmInitResult } from './hsm-init.js';
export { HSM_MANIFEST, signerConfigFromHsmDir, tokenLabelOf, type HsmManifest } from './hsm-store.js';
export { SOFTHSM2_MODULE } from './pkcs11.js';
export { addSignaturePlaceholder, fillSignature, signedParts } from './pdf-signature.js';
export { signPlugin, type SignerOption } from './plugin.js';
