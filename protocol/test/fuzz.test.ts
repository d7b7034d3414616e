import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import fc from 'fast-check';
import {
  BINDING_PLACEHOLDER,
  CERT_TYPES,
  ERROR_CODES,
  KonbiniError,
  MAX_COPIES,
  MAX_MESSAGE_BYTES,
  cardSerialHmac,
  cardSerialOf,
  cityIssueRequestSchema,
  cityMenuRequestSchema,
  cityOutcomeRequestSchema,
  decodeDocumentChunk,
  encodeDocumentChunk,
  isErrorCode,
  parseCentreMessage,
  parseCityMenuResponse,
  parseCityOutcomeResponse,
  parseKioskMessage,
  readBinding,
  sealBinding,
  signatureByteRange,
  validator,
  verifyBinding,
  type ErrorCode,
} from '../src/index.js';

/*
 * Bounded property tests of the protocol parsers (issue 8, item 4). Every run is
 * seeded, so a failure reproduces; the counts keep the whole file to a few seconds.
 *
 * What must hold for any input:
 *  - a parser returns a message or throws a KonbiniError with a known code, and
 *    nothing else (no TypeError, no RangeError, no stack overflow);
 *  - a message that breaks its schema is refused with MESSAGE_INVALID, never accepted;
 *  - a valid message survives JSON and comes back equal;
 *  - document frames and bindings on arbitrary bytes: the same.
 */

const SEED = 0x6b6f6e62; // 'konb'
const RUNS = 1000;
const opts = (numRuns = RUNS) => ({ seed: SEED, numRuns, endOnFailure: true });

/** The code a call throws: a known ErrorCode, 'ok' when it returns, or a marker for anything else. */
function outcome(fn: () => unknown): ErrorCode | 'ok' | `not-konbini:${string}` {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof KonbiniError && isErrorCode(err.code)) return err.code;
    return `not-konbini:${(err as Error)?.name ?? typeof err}:${(err as Error)?.message ?? String(err)}`.slice(0, 200) as `not-konbini:${string}`;
  }
}

const PARSE_CODES = new Set<string>(['ok', 'MESSAGE_INVALID', 'MESSAGE_UNKNOWN_TYPE', 'MESSAGE_TOO_LARGE']);

// ---------------------------------------------------------------- arbitraries of valid messages

const uuid = fc.uuid();
const b64 = (maxBytes: number) => fc.uint8Array({ minLength: 3, maxLength: maxBytes }).map((b) => Buffer.from(b).toString('base64'));
const text = (maxLength: number) => fc.string({ unit: 'binary', maxLength });
const certType = fc.constantFrom(...CERT_TYPES);
const errorCode = fc.constantFrom(...ERROR_CODES);
const optionKeys = ['scope', 'includeRelationship', 'includeHonseki', 'includeForeignDetails', 'includeMyNumber', 'fiscalYear'] as const;
const certOptions = fc.record(
  {
    scope: fc.constantFrom('self', 'household'),
    includeRelationship: fc.boolean(),
    includeHonseki: fc.boolean(),
    includeForeignDetails: fc.boolean(),
    includeMyNumber: fc.boolean(),
    fiscalYear: fc.integer({ min: 1989, max: 2200 }),
  },
  { requiredKeys: [] },
);

const kioskMessages = {
  'session.start': fc.record({ type: fc.constant('session.start'), authCert: b64(2048) }),
  'session.auth': fc.record({ type: fc.constant('session.auth'), sessionId: uuid, signature: b64(768) }),
  'issue.request': fc.record({
    type: fc.constant('issue.request'),
    sessionId: uuid,
    // any string up to 40: an unknown type earns its own code later (CERT_TYPE_UNKNOWN)
    certType: fc.oneof(certType, text(40)),
    options: certOptions,
    // any integer: out of range earns COPIES_OUT_OF_RANGE later
    copies: fc.integer(),
  }),
  'issue.outcome': fc.record(
    {
      type: fc.constant('issue.outcome'),
      sessionId: uuid,
      issuanceId: uuid,
      outcome: fc.constantFrom('printed', 'failed'),
      copiesPrinted: fc.integer({ min: 0, max: MAX_COPIES }),
      failureCode: errorCode,
    },
    { requiredKeys: ['type', 'sessionId', 'issuanceId', 'outcome', 'copiesPrinted'] },
  ),
  'session.end': fc.record({ type: fc.constant('session.end'), sessionId: uuid }),
};

const menuItem = fc.record(
  {
    certType,
    fee: fc.integer({ min: 0, max: 100000 }),
    options: fc.array(fc.constantFrom(...optionKeys), { maxLength: 10 }),
    fiscalYears: fc.array(fc.integer({ min: -1e9, max: 1e9 }), { maxLength: 10 }),
  },
  { requiredKeys: ['certType', 'fee', 'options'] },
);
const cityRef = fc.record({ code: fc.stringMatching(/^[0-9]{6}$/), name: text(40), prefecture: text(20) });

const centreMessages = {
  'session.challenge': fc.record({ type: fc.constant('session.challenge'), sessionId: uuid, nonce: b64(48), expiresAt: text(40) }),
  'session.menu': fc.record({
    type: fc.constant('session.menu'),
    sessionId: uuid,
    city: cityRef,
    items: fc.array(menuItem, { maxLength: 20 }),
    refusals: fc.array(fc.record({ certType, code: errorCode }), { maxLength: 20 }),
  }),
  'issue.accepted': fc.record({
    type: fc.constant('issue.accepted'),
    sessionId: uuid,
    issuanceId: uuid,
    certType,
    copies: fc.integer({ min: 1, max: MAX_COPIES }),
    fee: fc.integer({ min: 0, max: 2 ** 31 }),
  }),
  'issue.document': fc.record({
    type: fc.constant('issue.document'),
    sessionId: uuid,
    issuanceId: uuid,
    bytes: fc.integer({ min: 1, max: 20 * 1024 * 1024 }),
    sha256: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')),
  }),
  'issue.recorded': fc.record({
    type: fc.constant('issue.recorded'),
    sessionId: uuid,
    issuanceId: uuid,
    outcome: fc.constantFrom('printed', 'failed'),
    charged: fc.integer({ min: 0, max: 2 ** 31 }),
  }),
  error: fc.record(
    {
      type: fc.constant('error'),
      code: errorCode,
      message: text(500),
      messageJa: text(500),
      sessionId: uuid,
      issuanceId: uuid,
      triesLeft: fc.integer({ min: 0, max: 3 }),
    },
    { requiredKeys: ['type', 'code', 'message', 'messageJa'] },
  ),
};

const anyKiosk = fc.oneof(...Object.values(kioskMessages)) as fc.Arbitrary<Record<string, unknown>>;
const anyCentre = fc.oneof(...Object.values(centreMessages)) as fc.Arbitrary<Record<string, unknown>>;

const sides = [
  { side: 'kiosk', parse: parseKioskMessage, valid: anyKiosk, types: Object.keys(kioskMessages) },
  { side: 'centre', parse: parseCentreMessage, valid: anyCentre, types: Object.keys(centreMessages) },
] as const;

// ---------------------------------------------------------------- mutations that always break the schema

/** A JSON value of another JSON type than `v`: every field of every message has one type. */
function otherType(v: unknown): fc.Arbitrary<unknown> {
  const kind = Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v;
  const all: Record<string, fc.Arbitrary<unknown>> = {
    string: fc.string({ maxLength: 8 }),
    number: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
    boolean: fc.boolean(),
    object: fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
    array: fc.array(fc.integer(), { maxLength: 2 }),
    null: fc.constant(null),
  };
  return fc.oneof(...Object.entries(all).filter(([k]) => k !== kind).map(([, a]) => a));
}

/** Top-level fields a message may leave out. */
const OPTIONAL: Record<string, string[]> = { 'issue.outcome': ['failureCode'], error: ['sessionId', 'issuanceId', 'triesLeft'] };

type Mutation = { how: string; msg: Record<string, unknown> };

function mutate(valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Mutation> {
  return valid.chain((m) => {
    const fields = Object.keys(m).filter((k) => k !== 'type');
    const required = fields.filter((k) => !(OPTIONAL[m.type as string] ?? []).includes(k));
    const choices: fc.Arbitrary<Mutation>[] = [
      // an unknown field: additionalProperties is false everywhere
      fc.tuple(fc.string({ minLength: 1, maxLength: 10 }).filter((k) => !(k in m)), fc.jsonValue({ maxDepth: 2 })).map(([k, v]) => ({
        how: `extra field ${JSON.stringify(k)}`,
        msg: Object.defineProperty({ ...m }, k, { value: v, enumerable: true, configurable: true, writable: true }),
      })),
    ];
    if (required.length) {
      choices.push(fc.constantFrom(...required).map((k) => {
        const { [k]: _gone, ...rest } = m;
        return { how: `without ${k}`, msg: rest };
      }));
    }
    if (fields.length) {
      choices.push(fc.constantFrom(...fields).chain((k) => otherType(m[k]).map((v) => ({ how: `${k} of another type`, msg: { ...m, [k]: v } }))));
    }
    if (typeof m.sessionId === 'string') {
      choices.push(fc.constantFrom(
        { how: 'upper-case session id', msg: { ...m, sessionId: (m.sessionId as string).toUpperCase().replace(/^[0-9]/, 'A') } },
        { how: 'session id without dashes', msg: { ...m, sessionId: (m.sessionId as string).replace(/-/g, '') } },
        { how: 'session id with a newline', msg: { ...m, sessionId: `${m.sessionId as string}\n` } },
      ));
    }
    return fc.oneof(...choices);
  });
}

// ---------------------------------------------------------------- the properties

for (const { side, parse, valid, types } of sides) {
  t.test(`${side} messages: valid ones round-trip through JSON, as text and as bytes`, async (t) => {
    fc.assert(
      fc.property(valid, (m) => {
        const json = JSON.stringify(m);
        if (Buffer.byteLength(json) > MAX_MESSAGE_BYTES) return true; // the size rule, tested below
        // fast-check's records have a null prototype: compare as JSON (same keys, same order, same values)
        return JSON.stringify(parse(json)) === json && JSON.stringify(parse(Buffer.from(json, 'utf8'))) === json;
      }),
      opts(),
    );
    t.pass('round-trips');
  });

  t.test(`${side} messages: any schema violation is MESSAGE_INVALID, never accepted`, async (t) => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(mutate(valid), ({ how, msg }) => {
        seen.add(how.replace(/".*"/, '"…"'));
        const code = outcome(() => parse(JSON.stringify(msg)));
        if (code !== 'MESSAGE_INVALID') throw new Error(`${how}: ${code}`);
      }),
      opts(2000),
    );
    t.ok(seen.size > 5, `mutations tried: ${[...seen].slice(0, 12).join('; ')}…`);
  });

  t.test(`${side} messages: arbitrary text and bytes give a known code, never another exception`, async (t) => {
    const inputs = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'undefined'),
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      // objects that carry a known type and random fields
      fc.tuple(fc.constantFrom(...types), fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 })).map(([type, rest]) =>
        JSON.stringify({ ...rest, type }),
      ),
      // prototype-ish type names and keys
      fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '').map((type) => JSON.stringify({ type, __proto__: { type: 'session.start' } })),
      fc.constantFrom('{"__proto__":{"type":"session.start"}}', '{"type":"session.start","authCert":"AAAA","__proto__":{}}', '{"constructor":{"prototype":{}}}'),
      // deep nesting well inside the size limit
      fc.integer({ min: 1, max: 7000 }).map((d) => `{"type":"session.start","authCert":${'['.repeat(d)}${']'.repeat(d)}}`),
      fc.integer({ min: 1, max: 3000 }).map((d) => `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`),
    );
    const codes = new Map<string, number>();
    fc.assert(
      fc.property(inputs, (input) => {
        const code = outcome(() => parse(input as string));
        codes.set(code, (codes.get(code) ?? 0) + 1);
        if (!PARSE_CODES.has(code)) throw new Error(`unexpected ${code}`);
      }),
      opts(),
    );
    t.ok(codes.has('MESSAGE_INVALID') && codes.has('MESSAGE_UNKNOWN_TYPE'), `codes seen: ${JSON.stringify(Object.fromEntries(codes))}`);
  });

  t.test(`${side} messages: a type the other side (or nobody) sends is MESSAGE_UNKNOWN_TYPE`, async (t) => {
    const others = sides.filter((s) => s.side !== side).flatMap((s) => s.types);
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...others), fc.string({ maxLength: 60 }).filter((s) => !types.includes(s))), (type) => {
        const code = outcome(() => parse(JSON.stringify({ type })));
        if (code !== 'MESSAGE_UNKNOWN_TYPE') throw new Error(`type ${JSON.stringify(type)}: ${code}`);
      }),
      opts(),
    );
    t.pass();
  });

  t.test(`${side} messages: over ${MAX_MESSAGE_BYTES} bytes is MESSAGE_TOO_LARGE whatever the content (bytes, not characters)`, async (t) => {
    const big = fc.oneof(
      fc.integer({ min: MAX_MESSAGE_BYTES + 1, max: MAX_MESSAGE_BYTES * 3 }).map((n) => 'x'.repeat(n)),
      // 3-byte characters: fewer characters than the limit, more bytes
      fc.integer({ min: Math.floor(MAX_MESSAGE_BYTES / 3) + 1, max: MAX_MESSAGE_BYTES - 1 }).map((n) => JSON.stringify({ type: 'session.start', authCert: 'あ'.repeat(n) })),
      valid.map((m) => JSON.stringify({ ...m, pad: ' '.repeat(MAX_MESSAGE_BYTES) })),
    );
    fc.assert(
      fc.property(big, (s) => {
        const code = outcome(() => parse(s));
        if (code !== 'MESSAGE_TOO_LARGE') throw new Error(`${s.length} chars: ${code}`);
      }),
      opts(200),
    );
    t.pass();
  });
}

t.test('city HTTP bodies (centre <-> city schemas): only MESSAGE_INVALID or accepted', async (t) => {
  const parsers = [
    ['menu request', validator(cityMenuRequestSchema, 'fuzz:menu-request')],
    ['issue request', validator(cityIssueRequestSchema, 'fuzz:issue-request')],
    ['outcome request', validator(cityOutcomeRequestSchema, 'fuzz:outcome-request')],
    ['menu response', parseCityMenuResponse],
    ['outcome response', parseCityOutcomeResponse],
  ] as const;
  const inputs = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.dictionary(fc.constantFrom('cardSerial', 'kioskId', 'issuanceId', 'certType', 'options', 'copies', 'outcome', 'copiesPrinted', 'city', 'items', 'refusals', 'recorded', 'x'), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 8 }),
  );
  fc.assert(
    fc.property(fc.constantFrom(...parsers), inputs, ([, parse], body) => {
      const code = outcome(() => parse(body));
      if (code !== 'ok' && code !== 'MESSAGE_INVALID') throw new Error(`unexpected ${code}`);
    }),
    opts(),
  );
  // and one property per request shape: a card serial must be lower-case hex, whatever else is right
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 70 }).filter((s) => !/^[0-9a-f]{1,64}$/.test(s)), (serial) => {
      const code = outcome(() => parsers[0][1]({ cardSerial: serial, kioskId: 'K0001' }));
      if (code !== 'MESSAGE_INVALID') throw new Error(`serial ${JSON.stringify(serial)}: ${code}`);
    }),
    opts(),
  );
  t.pass();
});

// ---------------------------------------------------------------- binary document frames

t.test('decodeDocumentChunk: random bytes give a chunk or MESSAGE_INVALID; encode(decode(x)) is x', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
      const frame = Buffer.from(bytes);
      let decoded: ReturnType<typeof decodeDocumentChunk>;
      try {
        decoded = decodeDocumentChunk(frame);
      } catch (err) {
        if (!(err instanceof KonbiniError) || err.code !== 'MESSAGE_INVALID') throw err;
        if (frame.length > 16) throw new Error(`a ${frame.length}-byte frame refused`);
        return;
      }
      if (frame.length <= 16) throw new Error(`a ${frame.length}-byte frame accepted: no room for a chunk`);
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(decoded.issuanceId)) throw new Error(`id ${decoded.issuanceId}`);
      if (!encodeDocumentChunk(decoded.issuanceId, decoded.chunk).equals(frame)) throw new Error('not the same frame');
    }),
    opts(2000),
  );
  fc.assert(
    fc.property(uuid, fc.uint8Array({ minLength: 1, maxLength: 64 }), (id, chunk) => {
      const d = decodeDocumentChunk(encodeDocumentChunk(id, Buffer.from(chunk)));
      return d.issuanceId === id && d.chunk.equals(Buffer.from(chunk));
    }),
    opts(),
  );
  t.pass();
});

// ---------------------------------------------------------------- bindings

const BINDING_CODES = new Set(['DOCUMENT_BINDING_MISMATCH', 'DOCUMENT_HASH_MISMATCH']);
const IID = '11111111-2222-4333-8444-555555555555';
const SERIAL = '1a2b3c4d5e6f';

function unsignedPdf(page: string): Buffer {
  return Buffer.from(`%PDF-1.7\n1 0 obj\n<< /KonbiniBinding (${BINDING_PLACEHOLDER}) >>\nendobj\n${page}\n%%EOF\n`, 'latin1');
}

/** Binding first, then a signature /ByteRange covering all but one `<hex>` gap (as binding.test.ts builds it). */
function signedPdf(page: string): { pdf: Buffer; gap: [number, number] } {
  const head = `%PDF-1.7\n1 0 obj\n<< /KonbiniBinding (${BINDING_PLACEHOLDER}) >>\nendobj\n${page}\n2 0 obj\n<< /Type /Sig /ByteRange `;
  const br = (a: number, b: number, c: number) => `[0 ${a} ${b} ${c}]`.padEnd(40, ' ');
  const gap = `<${'0'.repeat(64)}>`;
  const tail = '\n>>\nendobj\n%%EOF\n';
  const a = Buffer.byteLength(head, 'latin1') + 40 + ' /Contents '.length;
  const b = a + gap.length;
  return { pdf: Buffer.from(head + br(a, b, tail.length) + ' /Contents ' + gap + tail, 'latin1'), gap: [a, b] };
}

t.test('readBinding on random bytes, and on PDF-like bytes with a random binding value or byte range: a document code, never another exception', async (t) => {
  const marker = '/KonbiniBinding (';
  const inputs = fc.oneof(
    fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
    // a marker followed by a value of random width and content
    fc.tuple(fc.uint8Array({ maxLength: 64 }), fc.string({ unit: 'binary-ascii', maxLength: 260 }), fc.uint8Array({ maxLength: 64 })).map(([a, v, z]) =>
      Buffer.concat([Buffer.from(a), Buffer.from(`${marker}${v})`, 'latin1'), Buffer.from(z)]),
    ),
    // a well-formed width with a value near the real syntax
    fc.tuple(fc.constantFrom('v1;iid=', 'v1;iid=x;csh=', 'v2;iid='), fc.string({ unit: fc.constantFrom(...'0123456789abcdef;=-'.split('')), maxLength: 190 })).map(([p, v]) =>
      unsignedPdf('page').toString('latin1').replace(BINDING_PLACEHOLDER, `${p}${v}`.slice(0, 200).padEnd(200, ' ')),
    ).map((s) => Buffer.from(s, 'latin1')),
    // a random /ByteRange after a sealed binding
    fc.tuple(fc.nat(5000), fc.nat(5000), fc.nat(5000), fc.nat(2)).map(([a, b, c, z]) => {
      const sealed = sealBinding(unsignedPdf('page'), IID, cardSerialHmac(IID, SERIAL)).pdf;
      return Buffer.concat([sealed, Buffer.from(`/ByteRange [${z} ${a} ${b} ${c}] <00>`, 'latin1')]);
    }),
  );
  const codes = new Map<string, number>();
  fc.assert(
    fc.property(inputs, (pdf) => {
      const code = outcome(() => readBinding(pdf));
      codes.set(code, (codes.get(code) ?? 0) + 1);
      if (code !== 'ok' && !BINDING_CODES.has(code)) throw new Error(`unexpected ${code}`);
      const v = outcome(() => verifyBinding(pdf, { issuanceId: IID, cardSerial: SERIAL }, { requireSignature: true }));
      if (v !== 'ok' && !BINDING_CODES.has(v)) throw new Error(`verify: unexpected ${v}`);
      if (v === 'ok' && !signatureByteRange(pdf)) throw new Error('accepted without a signature');
    }),
    opts(2000),
  );
  t.ok(codes.has('DOCUMENT_BINDING_MISMATCH'), `codes seen: ${JSON.stringify(Object.fromEntries(codes))}`);
});

t.test('a sealed document with any one byte changed is never printed for another session, and outside the uncovered bytes never at all', async (t) => {
  for (const signed of [false, true]) {
    const raw = signed ? signedPdf('stream-bytes-of-the-page') : { pdf: unsignedPdf('stream-bytes-of-the-page'), gap: null };
    const { pdf, binding } = sealBinding(raw.pdf, IID, cardSerialHmac(IID, SERIAL));
    const valueAt = pdf.lastIndexOf('/KonbiniBinding (') + '/KonbiniBinding ('.length;
    const expected = { issuanceId: IID, cardSerial: SERIAL };
    let tolerated = 0;
    t.same(verifyBinding(pdf, expected), binding, `${signed ? 'signed' : 'unsigned'}: the original verifies`);
    fc.assert(
      fc.property(fc.nat(pdf.length - 1), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const m = Buffer.from(pdf);
        m[at]! ^= xor;
        const inValue = at >= valueAt && at < valueAt + 200;
        const inGap = raw.gap !== null && at > raw.gap[0] && at < raw.gap[1] - 1;
        let got: unknown;
        try {
          got = verifyBinding(m, expected);
        } catch (err) {
          if (err instanceof KonbiniError && BINDING_CODES.has(err.code)) return;
          throw err;
        }
        // The binding value and the signature's /Contents are outside the document hash by design:
        // a change there may pass this check only if it changes nothing the kiosk compares.
        if (!inValue && !inGap) throw new Error(`byte ${at} ^ ${xor} accepted`);
        if (!isDeepStrictEqual(got, binding)) throw new Error(`byte ${at} ^ ${xor}: accepted with another binding`);
        tolerated++;
      }),
      opts(1500),
    );
    t.pass(`${signed ? 'signed' : 'unsigned'}: ${tolerated} of 1500 changes fell in the uncovered bytes and changed nothing compared`);
  }
});

// ---------------------------------------------------------------- card serial from certificate DER

/** A minimal certificate-shaped DER: SEQUENCE { SEQUENCE { [0] v3, INTEGER serial, SEQUENCE {} }, SEQUENCE {}, BIT STRING }. */
function certLike(serial: Buffer): Buffer {
  const tlv = (tag: number, body: Buffer) => {
    const len = body.length < 0x80 ? Buffer.from([body.length]) : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
    return Buffer.concat([Buffer.from([tag]), len, body]);
  };
  const tbs = tlv(0x30, Buffer.concat([tlv(0xa0, tlv(0x02, Buffer.from([2]))), tlv(0x02, serial), tlv(0x30, Buffer.alloc(0)), tlv(0x30, Buffer.alloc(200, 0x41))]));
  return tlv(0x30, Buffer.concat([tbs, tlv(0x30, Buffer.alloc(0)), tlv(0x03, Buffer.from([0]))]));
}

t.test('cardSerialOf: the serial of a well-formed DER; on anything else only its own TypeError, never a serial read from outside', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 20 }), (serial) => cardSerialOf(certLike(Buffer.from(serial))) === Buffer.from(serial).toString('hex')),
    opts(),
  );
  const inputs = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    // a well-formed one cut short, or with one byte changed
    fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean()).map(([serial, cut, at, xor, truncate]) => {
      const d = certLike(Buffer.from(serial));
      if (truncate) return d.subarray(0, cut % d.length);
      d[at % d.length]! ^= xor;
      return d;
    }),
  );
  fc.assert(
    fc.property(inputs, (der) => {
      let serial: string;
      try {
        serial = cardSerialOf(der);
      } catch (err) {
        if (err instanceof TypeError && err.message.startsWith('certificate DER')) return;
        throw err;
      }
      if (!/^([0-9a-f]{2})+$/.test(serial)) throw new Error(`serial ${serial}`);
      if (!der.toString('hex').includes(serial)) throw new Error('a serial that is not in the input');
    }),
    opts(2000),
  );
  t.pass();
});
