import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { KonbiniError } from '@konbini/protocol';
import { P, acquireModule, findObjects, findTokenSlot, mapPkcs11Error, type Handle, type Pkcs11 } from '../sign/pkcs11.js';
import type { PinSource, Pkcs11SignerConfig } from '../sign/signer.js';

/*
 * Who wraps the replica's data key (issue 5 item 7). In service: an AES-256 key
 * generated inside the city's PKCS#11 token by `city-cert hsm init` (label
 * REPLICA_WRAP_KEY_LABEL, not extractable, wrap/unwrap only), used with
 * CKM_AES_KEY_WRAP_PAD (RFC 5649). The data key leaves the token only unwrapped,
 * into this process's memory, once at start.
 *
 * Development (`serve --unsigned`, tests, staff commands without --hsm): a software
 * wrapper with a key written in this source file. It keeps the code path identical
 * but protects nothing; the replica records which wrapper wrapped its key, and a
 * token-wrapped replica is never opened with the development wrapper (or back).
 */

export const REPLICA_WRAP_KEY_LABEL = 'replica-kek';

export interface KeyWrapper {
  /** Stored with the wrapped key: which wrapper can unwrap it (no secret). */
  readonly id: string;
  wrap(dataKey: Buffer): Buffer;
  unwrap(wrapped: Buffer): Buffer;
}

const RFC5649_IV = Buffer.from('a65959a6', 'hex');
const DEV_KEK = createHash('sha256').update('konbini development replica wrapping key: protects nothing').digest();

export function developmentKeyWrapper(): KeyWrapper {
  return {
    id: 'development',
    wrap(dataKey) {
      const c = createCipheriv('id-aes256-wrap-pad', DEV_KEK, RFC5649_IV);
      return Buffer.concat([c.update(dataKey), c.final()]);
    },
    unwrap(wrapped) {
      try {
        const d = createDecipheriv('id-aes256-wrap-pad', DEV_KEK, RFC5649_IV);
        return Buffer.concat([d.update(wrapped), d.final()]);
      } catch (err) {
        throw new KonbiniError('REPLICA_KEY_UNAVAILABLE', { reason: 'unwrap-failed', wrapper: 'development' }, { cause: err });
      }
    },
  };
}

function readPin(source: PinSource): string {
  if ('value' in source) return source.value;
  if ('env' in source) {
    const v = process.env[source.env];
    if (!v) throw new KonbiniError('REPLICA_KEY_UNAVAILABLE', { reason: 'pin-env-empty' });
    return v;
  }
  try {
    return readFileSync(source.file, 'utf8').trim();
  } catch (err) {
    throw new KonbiniError('REPLICA_KEY_UNAVAILABLE', { reason: 'pin-file-unreadable' }, { cause: err });
  }
}

/** Any PKCS#11 failure on this path is one code: the server cannot open its data. */
function keyError(err: unknown, step: string): KonbiniError {
  if (err instanceof KonbiniError && err.code === 'REPLICA_KEY_UNAVAILABLE') return err;
  const mapped = mapPkcs11Error(err, step);
  return new KonbiniError('REPLICA_KEY_UNAVAILABLE', { step, reason: mapped.code, ckr: mapped.detail.ckr ?? mapped.detail.reason }, { cause: err });
}

/** Open a user session on the token, run fn, log out (only if we logged in) and close. */
function withTokenSession<T>(config: Pkcs11SignerConfig, fn: (p11: Pkcs11, session: Handle) => T): T {
  let lease;
  try {
    lease = acquireModule(config.module, config.softhsmConf);
  } catch (err) {
    throw keyError(err, 'module');
  }
  try {
    const p11 = lease.p11;
    const slot = findTokenSlot(p11, config.tokenLabel);
    if (!slot) throw new KonbiniError('REPLICA_KEY_UNAVAILABLE', { reason: 'token-missing', token: config.tokenLabel });
    const pin = readPin(config.pin);
    let session: Handle;
    try {
      session = p11.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
    } catch (err) {
      throw keyError(err, 'open-session');
    }
    try {
      let loggedIn = false;
      try {
        p11.C_Login(session, P.CKU_USER, pin);
        loggedIn = true;
      } catch (err) {
        // login state is per process and token: the document signer may hold it
        if ((err as { code?: number }).code !== P.CKR_USER_ALREADY_LOGGED_IN) throw keyError(err, 'login');
      }
      try {
        return fn(p11, session);
      } finally {
        if (loggedIn) p11.C_Logout(session);
      }
    } finally {
      p11.C_CloseSession(session);
    }
  } finally {
    lease.release();
  }
}

function wrappingKey(p11: Pkcs11, session: Handle, token: string): Handle {
  const keys = findObjects(p11, session, [
    { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
    { type: P.CKA_LABEL, value: REPLICA_WRAP_KEY_LABEL },
  ]);
  if (keys.length !== 1) throw new KonbiniError('REPLICA_KEY_UNAVAILABLE', { reason: keys.length ? 'wrapping-key-ambiguous' : 'wrapping-key-missing', token });
  return keys[0]!;
}

const MECH = { mechanism: P.CKM_AES_KEY_WRAP_PAD };

/** The city's token (same module, label and PIN as its document signer). */
export function pkcs11KeyWrapper(config: Pkcs11SignerConfig): KeyWrapper {
  return {
    id: `pkcs11:${config.tokenLabel}/${REPLICA_WRAP_KEY_LABEL}`,
    wrap(dataKey) {
      return withTokenSession(config, (p11, s) => {
        const kek = wrappingKey(p11, s, config.tokenLabel);
        try {
          // a session object (gone when the session closes) holding the data key just long enough to wrap it
          const tmp = p11.C_CreateObject(s, [
            { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
            { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
            { type: P.CKA_TOKEN, value: false },
            { type: P.CKA_EXTRACTABLE, value: true },
            { type: P.CKA_SENSITIVE, value: false },
            { type: P.CKA_VALUE, value: dataKey },
          ]);
          try {
            return Buffer.from(p11.C_WrapKey(s, MECH, kek, tmp, Buffer.alloc(dataKey.length + 16)));
          } finally {
            p11.C_DestroyObject(s, tmp);
          }
        } catch (err) {
          throw keyError(err, 'wrap');
        }
      });
    },
    unwrap(wrapped) {
      return withTokenSession(config, (p11, s) => {
        const kek = wrappingKey(p11, s, config.tokenLabel);
        let tmp: Handle;
        try {
          tmp = p11.C_UnwrapKey(s, MECH, kek, wrapped, [
            { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
            { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
            { type: P.CKA_TOKEN, value: false },
            { type: P.CKA_EXTRACTABLE, value: true },
            { type: P.CKA_SENSITIVE, value: false },
          ]);
        } catch (err) {
          throw keyError(err, 'unwrap');
        }
        try {
          const [a] = p11.C_GetAttributeValue(s, tmp, [{ type: P.CKA_VALUE }]);
          if (!Buffer.isBuffer(a?.value)) throw new KonbiniError('REPLICA_KEY_UNAVAILABLE', { reason: 'unwrapped-key-unreadable' });
          return Buffer.from(a.value);
        } finally {
          p11.C_DestroyObject(s, tmp);
        }
      });
    },
  };
}

/** The wrapping key `hsm init` puts on each city's token (idempotent: an existing one is kept, never replaced). */
export function ensureWrappingKey(p11: Pkcs11, session: Handle): 'created' | 'present' {
  const keys = findObjects(p11, session, [
    { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
    { type: P.CKA_LABEL, value: REPLICA_WRAP_KEY_LABEL },
  ]);
  if (keys.length) return 'present';
  p11.C_GenerateKey(session, { mechanism: P.CKM_AES_KEY_GEN }, [
    { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
    { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
    { type: P.CKA_VALUE_LEN, value: 32 },
    { type: P.CKA_TOKEN, value: true },
    { type: P.CKA_PRIVATE, value: true },
    { type: P.CKA_SENSITIVE, value: true },
    { type: P.CKA_EXTRACTABLE, value: false },
    { type: P.CKA_WRAP, value: true },
    { type: P.CKA_UNWRAP, value: true },
    { type: P.CKA_ENCRYPT, value: false },
    { type: P.CKA_DECRYPT, value: false },
    { type: P.CKA_SIGN, value: false },
    { type: P.CKA_LABEL, value: REPLICA_WRAP_KEY_LABEL },
    { type: P.CKA_ID, value: randomBytes(8) },
  ]);
  return 'created';
}
