/**
 * Which card reader a kiosk uses: `in-process` (the embedded default: a virtual card
 * handed over in memory, still spoken to in APDUs) or `pcsc[:name]` (pcsc-lite; a real
 * reader or pcscd's vpcd). Everything above the reader is the same code for both.
 */
import { KonbiniError } from '@konbini/protocol';
import type { CardReader } from './card-reader.js';
import { InProcessReader } from './in-process-reader.js';
import { PcscReader } from './pcsc-reader.js';

export type ReaderSpec = { kind: 'in-process' } | { kind: 'pcsc'; name?: string };

export const DEFAULT_READER: ReaderSpec = { kind: 'in-process' };

/** vpcd's reader names: slot 0 listens on TCP 35963, slot 1 on 35964. */
export function vpcdReaderName(slot: number): string {
  return `Virtual PCD 00 0${slot}`;
}

/** The vpcd slot a reader name stands for, or null for any other reader. */
export function vpcdSlotOf(name: string): number | null {
  const m = /^Virtual PCD 00 0([01])$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** Parses `in-process`, `pcsc` or `pcsc:<reader name>`; throws a plain Error naming the accepted forms. */
export function parseReaderSpec(text: string): ReaderSpec {
  if (text === 'in-process') return { kind: 'in-process' };
  if (text === 'pcsc') return { kind: 'pcsc' };
  if (text.startsWith('pcsc:') && text.length > 5) return { kind: 'pcsc', name: text.slice(5) };
  throw new Error(`reader must be "in-process", "pcsc" or "pcsc:<reader name>", not ${JSON.stringify(text)}`);
}

export function formatReaderSpec(spec: ReaderSpec): string {
  return spec.kind === 'in-process' ? 'in-process' : spec.name ? `pcsc:${spec.name}` : 'pcsc';
}

/**
 * Opens the reader a spec names. A PC/SC reader without pcscd is READER_UNAVAILABLE.
 * `pcsc` without a name binds to the first reader pcscd reports.
 */
export function openReader(spec: ReaderSpec): CardReader {
  if (spec.kind === 'in-process') return new InProcessReader();
  try {
    return new PcscReader({ reader: spec.name });
  } catch (err) {
    if (err instanceof KonbiniError && err.detail.reason === 'pcsc-unavailable') {
      throw new KonbiniError('READER_UNAVAILABLE', { reader: formatReaderSpec(spec) }, { cause: err });
    }
    throw err;
  }
}
