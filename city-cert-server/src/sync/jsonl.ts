import type { Readable } from 'node:stream';

export interface JsonLine {
  /** 1-based line number in the file. */
  line: number;
  text: string;
}

/** Longest line accepted: a row with a 印影 image fits; anything longer is refused before parsing. */
export const MAX_LINE_BYTES = 512 * 1024;

export class LineTooLong extends Error {
  constructor(readonly line: number) {
    super(`line ${line} longer than ${MAX_LINE_BYTES} bytes`);
  }
}

/**
 * Lines of a JSON Lines stream, without reading the whole file into memory.
 * `terminated` tells whether the last line ended with a newline: a file cut off in
 * the middle of a line is truncated, whatever that half line parses as.
 * Blank lines are skipped (but counted).
 */
export async function* jsonLines(input: Readable | string | Buffer | AsyncIterable<Buffer>, state: { terminated: boolean } = { terminated: true }): AsyncGenerator<JsonLine> {
  let rest = '';
  let line = 0;
  const chunks: AsyncIterable<Buffer | string> | Iterable<Buffer | string> = typeof input === 'string' || Buffer.isBuffer(input) ? [input] : (input as AsyncIterable<Buffer | string>);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for await (const chunk of chunks) {
    rest += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let start = 0;
    let nl: number;
    while ((nl = rest.indexOf('\n', start)) >= 0) {
      line++;
      const text = rest.slice(start, nl).replace(/\r$/, '');
      start = nl + 1;
      if (text.trim()) yield { line, text };
    }
    rest = rest.slice(start);
    if (rest.length > MAX_LINE_BYTES) throw new LineTooLong(line + 1);
  }
  rest += decoder.decode();
  state.terminated = rest.length === 0;
  if (rest.trim()) yield { line: line + 1, text: rest };
}

/** Canonical JSON (sorted keys): the same change sent twice hashes the same whatever its spacing. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
