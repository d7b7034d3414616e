import t from 'tap';
import { jsonLines } from '../../src/sync/jsonl.js';

/*
 * The JSON Lines reader decodes UTF-8 itself (sync/jsonl.ts): a character cut by a
 * chunk boundary reads whole, and bytes that are not UTF-8 are refused, wherever the
 * chunks happen to end.
 */

async function read(chunks: Buffer[]): Promise<string[]> {
  const out: string[] = [];
  for await (const { text } of jsonLines((async function* () { yield* chunks; })())) out.push(text);
  return out;
}

const text = '{"familyName":"髙橋"}\n{"familyName":"𠮷田","n":"ｱｲｳ"}\r\n\n{"x":"é"}\n';
const bytes = Buffer.from(text, 'utf8');

t.test('every split of the bytes reads the same lines', async (t) => {
  const want = ['{"familyName":"髙橋"}', '{"familyName":"𠮷田","n":"ｱｲｳ"}', '{"x":"é"}'];
  for (let size = 1; size <= 7; size++) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
    t.same(await read(chunks), want, `chunks of ${size} bytes`);
  }
});

t.test('bytes that are not UTF-8 are refused, however split', async (t) => {
  const bad = [
    Buffer.concat([bytes, Buffer.from([0xff]), Buffer.from('\n')]),
    Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xe9, 0xab]), Buffer.from('"}\n')]), // a cut 3-byte character
    Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0x80, 0x80, 0x80, 0x80]), Buffer.from('"}\n')]), // continuation bytes only
    Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}\n')]), // a surrogate encoded
    Buffer.concat([Buffer.from('{"a":"x"}\n'), Buffer.from([0xe9, 0xab])]), // the file ends inside a character
  ];
  for (const [n, b] of bad.entries()) {
    for (const size of [1, 2, 3, 1 << 16]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < b.length; i += size) chunks.push(b.subarray(i, i + size));
      await t.rejects(read(chunks), { name: 'TypeError', message: /encoded data/ }, `case ${n}, chunks of ${size}`);
    }
  }
});
