import type { ErrorCode } from '@konbini/protocol';
import type { Queryable } from './db.js';

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
    image_b64: string | null;
  }>(
    `SELECT resident_id, seal_number, status, registered_on::text AS registered_on, abolished_on::text AS abolished_on,
       encode(image_png, 'base64') AS image_b64
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
    imagePng: r.image_b64 ? Buffer.from(r.image_b64.replace(/\s+/g, ''), 'base64') : null,
  };
}

/** Whether a 印鑑登録証明書 may be issued on this registration (read in the same snapshot as the resident). */
export function sealRefusal(reg: SealRegistration | null): ErrorCode | null {
  if (!reg) return 'SEAL_NOT_REGISTERED';
  return reg.status === 'active' ? null : 'SEAL_ABOLISHED';
}
