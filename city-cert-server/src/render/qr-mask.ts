/**
 * The QR mask choice of the `qrcode` library (ISO/IEC 18004 §7.8: the mask with the
 * lowest penalty N1+N2+N3+N4, the first of equals), computed on flat byte arrays.
 *
 * Why: the library tries the eight masks through BitMatrix get/set calls, which took
 * ≈ 2 ms of a certificate's ≈ 10 ms for our version-17 codes. Here the symbol is made
 * once with mask 0, unmasked, and the eight candidates are scored in typed arrays
 * (the same penalty rules, including the library's own counting, so it picks the
 * same mask: tested against the library on many texts); the symbol is then made
 * again with that mask when it is not 0.
 */
import QRCode from 'qrcode';

type Level = 'L' | 'M' | 'Q' | 'H';
/** The two format bits of each error correction level. */
const LEVEL_BITS: Record<Level, number> = { L: 1, M: 0, Q: 3, H: 2 };

function bchDigit(d: number): number {
  let n = 0;
  while (d !== 0) {
    n++;
    d >>>= 1;
  }
  return n;
}

/** The 15 format-information bits for a level and a mask (BCH(15,5), XOR 101010000010010). */
export function formatBits(level: Level, mask: number): number {
  const G15 = 0b10100110111;
  const data = (LEVEL_BITS[level] << 3) | mask;
  let d = data << 10;
  while (bchDigit(d) - bchDigit(G15) >= 0) d ^= G15 << (bchDigit(d) - bchDigit(G15));
  return ((data << 10) | d) ^ 0b101010000010010;
}

function maskAt(p: number, i: number, j: number): boolean {
  switch (p) {
    case 0: return (i + j) % 2 === 0;
    case 1: return i % 2 === 0;
    case 2: return j % 3 === 0;
    case 3: return (i + j) % 3 === 0;
    case 4: return (Math.floor(i / 2) + Math.floor(j / 3)) % 2 === 0;
    case 5: return ((i * j) % 2) + ((i * j) % 3) === 0;
    case 6: return (((i * j) % 2) + ((i * j) % 3)) % 2 === 0;
    default: return (((i * j) % 3) + ((i + j) % 2)) % 2 === 0;
  }
}

/** Where the library writes the format bits (both copies) and the fixed dark module. */
function writeFormat(m: Uint8Array, size: number, bits: number): void {
  for (let i = 0; i < 15; i++) {
    const mod = (bits >> i) & 1;
    const vr = i < 6 ? i : i < 8 ? i + 1 : size - 15 + i;
    m[vr * size + 8] = mod;
    const hc = i < 8 ? size - i - 1 : i < 9 ? 15 - i : 15 - i - 1;
    m[8 * size + hc] = mod;
  }
  m[(size - 8) * size + 8] = 1;
}

/** The library's penalty (mask-pattern.js getPenaltyN1..N4), same counting. */
export function penalty(m: Uint8Array, size: number): number {
  let n1 = 0;
  let n3 = 0;
  for (let a = 0; a < size; a++) {
    let lastR = -1;
    let lastC = -1;
    let runR = 0;
    let runC = 0;
    let bitsR = 0;
    let bitsC = 0;
    for (let b = 0; b < size; b++) {
      const r = m[a * size + b]!; // along row a
      const c = m[b * size + a]!; // along column a
      if (r === lastR) runR++;
      else {
        if (runR >= 5) n1 += 3 + (runR - 5);
        lastR = r;
        runR = 1;
      }
      if (c === lastC) runC++;
      else {
        if (runC >= 5) n1 += 3 + (runC - 5);
        lastC = c;
        runC = 1;
      }
      bitsR = ((bitsR << 1) & 0x7ff) | r;
      bitsC = ((bitsC << 1) & 0x7ff) | c;
      if (b >= 10) {
        if (bitsR === 0x5d0 || bitsR === 0x05d) n3++;
        if (bitsC === 0x5d0 || bitsC === 0x05d) n3++;
      }
    }
    if (runR >= 5) n1 += 3 + (runR - 5);
    if (runC >= 5) n1 += 3 + (runC - 5);
  }
  let n2 = 0;
  for (let row = 0; row < size - 1; row++) {
    for (let col = 0; col < size - 1; col++) {
      const o = row * size + col;
      const s = m[o]! + m[o + 1]! + m[o + size]! + m[o + size + 1]!;
      if (s === 4 || s === 0) n2++;
    }
  }
  let dark = 0;
  for (let i = 0; i < m.length; i++) dark += m[i]!;
  const n4 = Math.abs(Math.ceil((dark * 100) / m.length / 5) - 10);
  return n1 + n2 * 3 + n3 * 40 + n4 * 10;
}

/** Per symbol size: for each mask, 1 where it flips a module (the mask, outside the reserved modules). */
const flipsBySize = new Map<number, Uint8Array[]>();

function flipsOf(size: number, reserved: Uint8Array): Uint8Array[] {
  let flips = flipsBySize.get(size);
  if (!flips) {
    flips = [];
    for (let p = 0; p < 8; p++) {
      const f = new Uint8Array(size * size);
      for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) f[i * size + j] = !reserved[i * size + j] && maskAt(p, i, j) ? 1 : 0;
      flips.push(f);
    }
    flipsBySize.set(size, flips);
  }
  return flips;
}

/**
 * The symbol for these segments with the library's best mask, chosen quickly: the
 * library makes it once with mask 0; the other seven are that symbol unmasked and
 * masked again, with their own format bits (the reserved modules depend on the
 * version only, so the flip maps are made once per size).
 */
export function qrSymbol(segments: QRCode.QRCodeSegment[], level: Level): { size: number; data: Uint8Array; maskPattern: number } {
  const first = QRCode.create(segments, { errorCorrectionLevel: level, maskPattern: 0 });
  const { size, data, reservedBit } = first.modules;
  const flips = flipsOf(size, reservedBit);
  const unmasked = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) unmasked[i] = data[i]! ^ flips[0]![i]!;
  let best: Uint8Array = data;
  let bestMask = 0;
  let lowest = Infinity;
  for (let p = 0; p < 8; p++) {
    const candidate = new Uint8Array(data.length);
    const f = flips[p]!;
    for (let i = 0; i < candidate.length; i++) candidate[i] = unmasked[i]! ^ f[i]!;
    writeFormat(candidate, size, formatBits(level, p));
    const score = penalty(candidate, size);
    if (score < lowest) {
      lowest = score;
      best = candidate;
      bestMask = p;
    }
  }
  return { size, data: best, maskPattern: bestMask };
}
