import { randomBytes } from 'node:crypto';
import { KonbiniError } from '@konbini/protocol';
import type { Db, Queryable } from '../replica/db.js';
import { FieldCipher, asBytes } from './field-cipher.js';
import { developmentKeyWrapper, type KeyWrapper } from './key-wrapper.js';

/*
 * The replica's data key (issue 5 item 7): 32 random bytes made once per replica,
 * stored only wrapped (table replica_keys, migration 0004), unwrapped through the
 * key wrapper when the replica is opened and kept in this process's memory only.
 */

/** What a Db (and every transaction on it) knows about its keys. */
export class ReplicaKeys {
  cipher: FieldCipher | null = null;

  constructor(public wrapper: KeyWrapper = developmentKeyWrapper()) {}

  toJSON(): string {
    return `[ReplicaKeys ${this.wrapper.id}]`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toJSON();
  }
}

/** Taken while the data key is created, so two workers starting at once agree on one key. */
const KEY_LOCK = 7406003;

/** The field cipher of this replica, or REPLICA_KEY_UNAVAILABLE (the replica was never unlocked). */
export function cipherOf(q: Queryable): FieldCipher {
  const c = q.keys?.cipher;
  if (!c) throw new KonbiniError('REPLICA_KEY_UNAVAILABLE', { reason: 'replica-locked' });
  return c;
}

/**
 * Unwraps the replica's data key (making and wrapping one when the replica has none)
 * and makes it available to every query on `db`. Refuses with
 * REPLICA_KEY_UNAVAILABLE when the wrapper cannot unwrap the stored key: token or
 * wrapping key missing, another token, or a key wrapped by the other kind of wrapper.
 */
export async function unlockReplica(db: Db): Promise<void> {
  const keys = db.keys;
  if (!keys) throw new KonbiniError('REPLICA_KEY_UNAVAILABLE', { reason: 'no-keyring' });
  if (keys.cipher) return;
  const wrapper = keys.wrapper;
  const dataKey = await db.transaction(
    async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [KEY_LOCK]);
      const rows = await tx.query<{ wrapped_key: unknown; wrapper: string }>('SELECT wrapped_key, wrapper FROM replica_keys WHERE id = 1');
      const row = rows[0];
      if (row) {
        if (row.wrapper !== wrapper.id) {
          throw new KonbiniError('REPLICA_KEY_UNAVAILABLE', { reason: 'wrapped-by-another-key', stored: row.wrapper, given: wrapper.id });
        }
        return wrapper.unwrap(asBytes(row.wrapped_key)!);
      }
      // a replica holding personal rows without a key is one we cannot read: never paper over it with a new key
      const held = await tx.query<{ n: string }>('SELECT count(*)::text AS n FROM residents');
      if (Number(held[0]?.n ?? 0) > 0) throw new KonbiniError('REPLICA_KEY_UNAVAILABLE', { reason: 'data-key-missing' });
      const fresh = randomBytes(32);
      await tx.query('INSERT INTO replica_keys (id, wrapped_key, wrapper, created_at) VALUES (1, $1, $2, now())', [wrapper.wrap(fresh), wrapper.id]);
      return fresh;
    },
    { isolation: 'read-committed' },
  );
  try {
    keys.cipher = new FieldCipher(dataKey);
  } finally {
    dataKey.fill(0);
  }
}
