/**
 * The PKCS#11 module, shared per process, and the few token operations the signer
 * and the setup step need. Tokens are always found by label: SoftHSM2 gives a
 * token a new random slot id when it is initialised, and other modules renumber
 * slots freely.
 */
import { existsSync } from 'node:fs';
import { KonbiniError, type ErrorCode } from '@konbini/protocol';
import pkcs11js from 'pkcs11js';

export type Pkcs11 = InstanceType<typeof pkcs11js.PKCS11>;
export type Handle = Buffer;
export const P = pkcs11js;

export const SOFTHSM2_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

interface LoadedModule {
  p11: Pkcs11;
  softhsmConf: string | undefined;
  refs: number;
}

/** One loaded, initialised module per path and process (C_Initialize is per process). */
const modules = new Map<string, LoadedModule>();

export interface ModuleLease {
  p11: Pkcs11;
  release(): void;
}

/**
 * Load and initialise a PKCS#11 module. `softhsmConf` is exported as SOFTHSM2_CONF
 * before C_Initialize (SoftHSM2 reads it there); a second user of the same module in
 * this process must ask for the same configuration.
 */
export function acquireModule(modulePath: string, softhsmConf?: string): ModuleLease {
  let m = modules.get(modulePath);
  if (m) {
    if (m.softhsmConf !== softhsmConf) {
      throw new KonbiniError('SIGNER_FAILED', { reason: 'module-config-conflict' });
    }
  } else {
    if (!existsSync(modulePath)) throw new KonbiniError('SIGNER_FAILED', { reason: 'module-missing' });
    if (softhsmConf !== undefined) {
      if (!existsSync(softhsmConf)) throw new KonbiniError('SIGNER_TOKEN_MISSING', { reason: 'softhsm-conf-missing' });
      process.env.SOFTHSM2_CONF = softhsmConf;
    }
    const p11 = new pkcs11js.PKCS11();
    try {
      p11.load(modulePath);
      p11.C_Initialize();
    } catch (err) {
      throw mapPkcs11Error(err, 'initialize');
    }
    m = { p11, softhsmConf, refs: 0 };
    modules.set(modulePath, m);
  }
  m.refs++;
  const lease = m;
  let released = false;
  return {
    p11: lease.p11,
    release() {
      if (released) return;
      released = true;
      lease.refs--;
      if (lease.refs === 0) {
        modules.delete(modulePath);
        try {
          lease.p11.C_Finalize();
          lease.p11.close();
        } catch {
          // finalising a module that already lost its token is not an error for us
        }
      }
    },
  };
}

/** Slot of the initialised token carrying this label, or undefined. */
export function findTokenSlot(p11: Pkcs11, label: string): Handle | undefined {
  for (const slot of p11.C_GetSlotList(true)) {
    const info = p11.C_GetTokenInfo(slot);
    if (info.label.replace(/[\s\0]+$/, '') === label && (info.flags & P.CKF_TOKEN_INITIALIZED) !== 0) return slot;
  }
  return undefined;
}

/** A slot whose token is not initialised yet (SoftHSM2 always keeps one). */
export function freeSlot(p11: Pkcs11): Handle | undefined {
  for (const slot of p11.C_GetSlotList(true)) {
    if ((p11.C_GetTokenInfo(slot).flags & P.CKF_TOKEN_INITIALIZED) === 0) return slot;
  }
  return undefined;
}

export function findObjects(p11: Pkcs11, session: Handle, template: pkcs11js.Template): Handle[] {
  p11.C_FindObjectsInit(session, template);
  try {
    return p11.C_FindObjects(session, 64);
  } finally {
    p11.C_FindObjectsFinal(session);
  }
}

export function attribute(p11: Pkcs11, session: Handle, object: Handle, type: number): Buffer {
  const [a] = p11.C_GetAttributeValue(session, object, [{ type }]);
  const v = a?.value;
  if (!Buffer.isBuffer(v)) throw new KonbiniError('SIGNER_FAILED', { reason: 'attribute-missing' });
  return v;
}

const TOKEN_GONE = new Set<number>([
  P.CKR_TOKEN_NOT_PRESENT,
  P.CKR_TOKEN_NOT_RECOGNIZED,
  P.CKR_DEVICE_REMOVED,
  P.CKR_SLOT_ID_INVALID,
  P.CKR_SESSION_HANDLE_INVALID,
  P.CKR_SESSION_CLOSED,
]);
const PIN_REFUSED = new Set<number>([P.CKR_PIN_INCORRECT, P.CKR_PIN_LEN_RANGE, P.CKR_PIN_INVALID, P.CKR_PIN_LOCKED, P.CKR_PIN_EXPIRED]);

export function isTokenGone(err: unknown): boolean {
  return err instanceof KonbiniError ? err.code === 'SIGNER_TOKEN_MISSING' : TOKEN_GONE.has((err as { code?: number }).code ?? -1);
}

/** PKCS#11 failures as stable codes; the detail carries the CKR_ value and the step, never a PIN. */
export function mapPkcs11Error(err: unknown, step: string): KonbiniError {
  if (err instanceof KonbiniError) return err;
  const ckr = (err as { code?: unknown }).code;
  let code: ErrorCode = 'SIGNER_FAILED';
  if (typeof ckr === 'number' && PIN_REFUSED.has(ckr)) code = 'SIGNER_PIN_INCORRECT';
  else if (typeof ckr === 'number' && TOKEN_GONE.has(ckr)) code = 'SIGNER_TOKEN_MISSING';
  return new KonbiniError(code, { step, ckr: typeof ckr === 'number' ? `0x${ckr.toString(16)}` : undefined }, { cause: err });
}
