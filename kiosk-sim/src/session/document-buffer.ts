import { createHash } from 'node:crypto';
import { KonbiniError, MAX_DOCUMENT_BYTES } from '@konbini/protocol';

/**
 * The one place a document lives in kiosk memory. Chunks are copied into buffers
 * owned here (never views of socket buffers), so `wipe()` can zero every byte the
 * kiosk ever held of it.
 */
export class DocumentBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  private poisoned: string | null = null;
  private wiped = false;
  /** Test hook: every buffer this document was ever copied into (see trackAllocations). */
  private tracked: Buffer[] | null = null;

  constructor(readonly issuanceId: string) {}

  append(chunk: Buffer): void {
    if (this.wiped) return;
    if (this.size + chunk.length > MAX_DOCUMENT_BYTES) {
      this.poison('too-large');
      return;
    }
    const own = Buffer.allocUnsafeSlow(chunk.length);
    this.tracked?.push(own);
    chunk.copy(own);
    chunk.fill(0);
    this.chunks.push(own);
    this.size += own.length;
  }

  poison(reason: string): void {
    this.poisoned ??= reason;
  }

  get bytes(): number {
    return this.size;
  }

  /** The whole document, checked against what the centre announced. */
  complete(expected: { bytes: number; sha256: string }): Buffer {
    if (this.wiped) throw new KonbiniError('INTERNAL', { reason: 'wiped' });
    if (this.poisoned) throw new KonbiniError('DOCUMENT_BINDING_MISMATCH', { issuanceId: this.issuanceId, reason: this.poisoned });
    if (this.size !== expected.bytes) throw new KonbiniError('DOCUMENT_TRUNCATED', { issuanceId: this.issuanceId, received: this.size, bytes: expected.bytes });
    const whole = Buffer.allocUnsafeSlow(this.size);
    this.tracked?.push(whole);
    let at = 0;
    for (const c of this.chunks) {
      c.copy(whole, at);
      at += c.length;
      c.fill(0);
    }
    this.chunks = [whole];
    if (createHash('sha256').update(whole).digest('hex') !== expected.sha256) {
      throw new KonbiniError('DOCUMENT_HASH_MISMATCH', { issuanceId: this.issuanceId, reason: 'transport' });
    }
    return whole;
  }

  /** Zero every byte held and forget the buffers. */
  wipe(): void {
    for (const c of this.chunks) c.fill(0);
    this.chunks = [];
    this.size = 0;
    this.wiped = true;
  }

  /**
   * Test hook: from now on remember every buffer the document is copied into, so a
   * test can check each one was zeroed however the session ended (wipe() forgets
   * them; this list does not). Call before the first chunk.
   */
  trackAllocations(): void {
    this.tracked ??= [];
  }

  /** Test hook: every buffer allocated since trackAllocations(). */
  allocations(): readonly Buffer[] {
    return this.tracked ?? [];
  }

  /** Test hook: the buffers still referenced (empty after wipe). */
  heldBuffers(): readonly Buffer[] {
    return this.chunks;
  }
}
