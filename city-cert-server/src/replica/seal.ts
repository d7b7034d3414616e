import type { ErrorCode } from '@konbini/protocol';
import type { Queryable } from './db.js';
import { asBytes } from '../crypto/field-cipher.js';
import { cipherOf } from '../crypto/replica-keys.js';

export interface SealRegistration {
  residentId: string;
  sealNumber: string;
  status: 'active' | 'abolished';
  registeredOn: string;
  abolishedOn: string | null;
  /** The registered 印影 (PNG), when the city supplied one. */
  imagePng: Buffer | null;
}

export async function sealRegistrationOf(db: Queryable, residentId: string): Promise<SealRegistration | null> {
  const rows = await db.query<{
    resident_id: string;
    seal_number: string;
    status: SealRegistration['status'];
    registered_on: string;
    abolished_on: string | null;
    image_png: unknown;
  }>(
    `SELECT resident_id, seal_number, status, registered_on::text AS registered_on, abolished_on::text AS abolished_on,
       image_png
     FROM seal_registrations WHERE resident_id = $1`,
    [residentId],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    residentId: r.resident_id,
    sealNumber: r.seal_number,
    status: r.status,
    registeredOn: r.registered_on,
    abolishedOn: r.abolished_on,
    // sealed (crypto/field-cipher.ts); an empty image was stored as none
    imagePng: r.image_png === null ? null : cipherOf(db).open('seal_registrations', 'image_png', r.resident_id, asBytes(r.image_png)!),
  };
}

/** Whether a 印鑑登録証明書 may be issued on this registration (read in the same snapshot as the resident). */
export function sealRefusal(reg: SealRegistration | null): ErrorCode | null {
  if (!reg) return 'SEAL_NOT_REGISTERED';
  return reg.status === 'active' ? null : 'SEAL_ABOLISHED';
}
