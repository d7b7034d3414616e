export * from './errors.js';
export * from './cert-types.js';
export * from './auth.js';
export * from './binding.js';
export * from './validate.js';
export * from './messages.js';
export * from './dataset.js';
export * from './card-profile.js';
