/*
 * Migration 0004's konbini_apply_changes: the function of 0003 (apply-changes.sql.ts)
 * for a replica whose personal fields are AES-256-GCM envelopes (crypto/field-cipher.ts).
 * sync/delta.ts seals those fields in TypeScript before the call and sends each
 * envelope base64-encoded in the JSON; the function only decodes and stores them, and
 * never sees a name, an address or a birth date. Everything it compares (ids,
 * status, flags, dates other than the birth date) stays in clear.
 */
export const APPLY_CHANGES_SEALED_SQL = `
CREATE OR REPLACE FUNCTION konbini_apply_changes(changes jsonb) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  c jsonb; k text; rid text; r jsonb; h jsonb; n integer; done integer := 0;
BEGIN
  FOR c IN SELECT value FROM jsonb_array_elements(changes) ORDER BY (value->>'seq')::bigint LOOP
    k := c->>'kind';
    rid := c->>'residentId';
    IF k IN ('move-in', 'birth') THEN
      r := c->'resident';
      IF r->>'status' <> 'active' THEN PERFORM konbini_refuse('conflict', c, '/resident/status', 'a person moving in or born is active'); END IF;
      h := c->'household';
      IF h IS NOT NULL AND jsonb_typeof(h) = 'object' THEN
        IF h->>'id' <> r->>'householdId' THEN PERFORM konbini_refuse('conflict', c, '/household/id', 'must be the resident''s householdId'); END IF;
        INSERT INTO households (id, address, head_id) VALUES (h->>'id', decode(h->>'address', 'base64'), h->>'headId') ON CONFLICT (id) DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n = 0 THEN PERFORM konbini_refuse('conflict', c, '/household/id', 'the household exists already'); END IF;
      ELSE
        PERFORM 1 FROM households WHERE id = r->>'householdId';
        IF NOT FOUND THEN PERFORM konbini_refuse('unknown', c, '/resident/householdId', 'no such household'); END IF;
      END IF;
      INSERT INTO residents (id, household_id, family_name, given_name, family_name_kana, given_name_kana,
          birth_date, sex, relationship, resident_since, address_since, notified_on, previous_address,
          honseki, koseki_head, foreign_info, status, flags)
        VALUES (r->>'id', r->>'householdId', decode(r->>'familyName', 'base64'), decode(r->>'givenName', 'base64'),
          decode(r->>'familyNameKana', 'base64'), decode(r->>'givenNameKana', 'base64'),
          decode(r->>'birthDate', 'base64'), r->>'sex', r->>'relationship', (r->>'residentSince')::date, (r->>'addressSince')::date,
          (c->>'notifiedOn')::date, decode(r->>'previousAddress', 'base64'), decode(r->>'honseki', 'base64'),
          decode(r->>'kosekiHead', 'base64'), decode(r->>'foreign', 'base64'),
          'active', ARRAY(SELECT jsonb_array_elements_text(r->'flags')))
        ON CONFLICT (id) DO NOTHING;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n = 0 THEN PERFORM konbini_refuse('conflict', c, '/resident/id', 'the resident exists already'); END IF;

    ELSIF k IN ('move-out-planned', 'move-out-cancelled') THEN
      UPDATE residents SET notified_on = (c->>'notifiedOn')::date,
          flags = CASE WHEN k = 'move-out-cancelled' THEN array_remove(flags, 'moving-out')
                       WHEN 'moving-out' = ANY(flags) THEN flags ELSE array_append(flags, 'moving-out') END
        WHERE id = rid AND status = 'active';
      IF NOT FOUND THEN PERFORM konbini_require_active(c); END IF;

    ELSIF k IN ('move-out', 'death') THEN
      UPDATE residents SET status = CASE k WHEN 'death' THEN 'deceased' ELSE 'moved-out' END,
          removed_on = (c->>'effectiveOn')::date, notified_on = (c->>'notifiedOn')::date, flags = array_remove(flags, 'moving-out')
        WHERE id = rid AND status = 'active';
      IF NOT FOUND THEN PERFORM konbini_require_active(c); END IF;
      -- a removed person's seal registration ends with the record (印鑑登録の抹消)
      UPDATE seal_registrations SET status = 'abolished', abolished_on = (c->>'effectiveOn')::date
        WHERE resident_id = rid AND status = 'active';

    ELSIF k = 'address-change' THEN
      UPDATE households SET address = decode(c->>'address', 'base64') WHERE id = c->>'householdId';
      IF NOT FOUND THEN PERFORM konbini_refuse('unknown', c, '/householdId', 'no such household'); END IF;
      UPDATE residents SET address_since = (c->>'effectiveOn')::date, notified_on = (c->>'notifiedOn')::date
        WHERE household_id = c->>'householdId' AND status = 'active';

    ELSIF k = 'name-change' THEN
      UPDATE residents SET family_name = coalesce(decode(c->>'familyName', 'base64'), family_name),
          given_name = coalesce(decode(c->>'givenName', 'base64'), given_name),
          family_name_kana = coalesce(decode(c->>'familyNameKana', 'base64'), family_name_kana),
          given_name_kana = coalesce(decode(c->>'givenNameKana', 'base64'), given_name_kana),
          notified_on = (c->>'notifiedOn')::date
        WHERE id = rid AND status = 'active';
      IF NOT FOUND THEN PERFORM konbini_require_active(c); END IF;

    ELSIF k = 'household-change' THEN
      h := c->'household';
      IF h IS NOT NULL AND jsonb_typeof(h) = 'object' THEN
        IF h->>'id' <> c->>'householdId' THEN PERFORM konbini_refuse('conflict', c, '/household/id', 'must be the change''s householdId'); END IF;
        INSERT INTO households (id, address, head_id) VALUES (h->>'id', decode(h->>'address', 'base64'), h->>'headId') ON CONFLICT (id) DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n = 0 THEN PERFORM konbini_refuse('conflict', c, '/household/id', 'the household exists already'); END IF;
      ELSE
        PERFORM 1 FROM households WHERE id = c->>'householdId';
        IF NOT FOUND THEN PERFORM konbini_refuse('unknown', c, '/householdId', 'no such household'); END IF;
      END IF;
      UPDATE residents SET household_id = c->>'householdId', relationship = c->>'relationship', notified_on = (c->>'notifiedOn')::date
        WHERE id = rid AND status = 'active';
      IF NOT FOUND THEN PERFORM konbini_require_active(c); END IF;

    ELSIF k = 'seal-register' THEN
      PERFORM konbini_require_active(c);
      INSERT INTO seal_registrations (resident_id, seal_number, image_png, status, registered_on, abolished_on)
        VALUES (rid, c->>'sealNumber', decode(c->>'imagePng', 'base64'), 'active', (c->>'effectiveOn')::date, NULL)
        ON CONFLICT (resident_id) DO UPDATE SET seal_number = EXCLUDED.seal_number, image_png = EXCLUDED.image_png,
          status = 'active', registered_on = EXCLUDED.registered_on, abolished_on = NULL
        WHERE seal_registrations.status = 'abolished';
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n = 0 THEN PERFORM konbini_refuse('conflict', c, '/residentId', 'a seal is registered already (abolish it first)'); END IF;

    ELSIF k = 'seal-abolish' THEN
      UPDATE seal_registrations SET status = 'abolished', abolished_on = (c->>'effectiveOn')::date
        WHERE resident_id = rid AND status = 'active';
      IF NOT FOUND THEN
        PERFORM 1 FROM residents WHERE id = rid;
        IF NOT FOUND THEN PERFORM konbini_refuse('unknown', c, '/residentId', 'no such resident'); END IF;
        PERFORM konbini_refuse('unknown', c, '/residentId', 'no such active seal registration');
      END IF;

    ELSIF k = 'card-issue' THEN
      PERFORM konbini_require_active(c);
      INSERT INTO card_links (serial, resident_id, valid_from) VALUES (lower(c->>'serial'), rid, (c->>'validFrom')::date)
        ON CONFLICT (serial) DO NOTHING;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n = 0 THEN PERFORM konbini_refuse('conflict', c, '/serial', 'the card is linked already'); END IF;

    ELSIF k = 'card-revoke' THEN
      UPDATE card_links SET revoked_on = (c->>'effectiveOn')::date WHERE serial = lower(c->>'serial') AND revoked_on IS NULL;
      IF NOT FOUND THEN PERFORM konbini_refuse('unknown', c, '/serial', 'no such linked card'); END IF;

    ELSIF k IN ('support-measure-set', 'support-measure-cleared') THEN
      -- also on removed persons: the measure protects their past records too
      UPDATE residents SET notified_on = (c->>'notifiedOn')::date,
          flags = CASE WHEN k = 'support-measure-cleared' THEN array_remove(flags, 'support-measure')
                       WHEN 'support-measure' = ANY(flags) THEN flags ELSE array_append(flags, 'support-measure') END
        WHERE id = rid;
      IF NOT FOUND THEN PERFORM konbini_refuse('unknown', c, '/residentId', 'no such resident'); END IF;

    ELSE
      PERFORM konbini_refuse('conflict', c, '/kind', 'unknown kind');
    END IF;
    done := done + 1;
  END LOOP;
  RETURN done;
END
$fn$;
`;
