export * from './clock.js';
export * from './printable.js';
export * from './resident-rules.js';
export * from './offer.js';
export * from './cert-rules.js';
