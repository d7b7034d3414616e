/**
 * 公印 placeholder: a black square seal drawn with vector shapes (two frames and the
 * characters 「<city>長之印」 in vertical columns, read right to left), at most 25 mm.
 * A real city would place its registered seal image here; this one is plainly
 * generated and carries no claim to be an official impression.
 */

const MM = 72 / 25.4;
/** Seal edge: 21 mm (FORMS.md: at most 25 mm square). */
export const SEAL_SIZE_PT = 21 * MM;

export function sealCharacters(cityName: string): string[] {
  return Array.from(`${cityName}長之印`);
}

/** A pdfmake node drawing the seal; it occupies SEAL_SIZE_PT × SEAL_SIZE_PT. */
export function sealNode(cityName: string, font: string): Record<string, unknown> {
  const chars = sealCharacters(cityName);
  const rows = chars.length <= 4 ? 2 : 3;
  const cols = Math.ceil(chars.length / rows);
  const s = SEAL_SIZE_PT;
  const outer = 2.2;
  const gap = 1.6;
  const inner = outer + gap + 0.6;
  const pad = inner + 1.2;
  const cellW = (s - 2 * pad) / cols;
  const cellH = (s - 2 * pad) / rows;
  const fontSize = Math.min(cellW, cellH) * 0.92;
  const glyphs = chars.map((ch, i) => {
    const col = Math.floor(i / rows); // columns fill top to bottom, right to left
    const row = i % rows;
    const x = s - pad - (col + 1) * cellW + (cellW - fontSize) / 2; // full-width glyph: advance = fontSize
    const y = pad + row * cellH + (cellH - fontSize) / 2 - fontSize * 0.06;
    return {
      text: ch,
      font,
      fontSize,
      lineHeight: 1,
      color: 'black',
      relativePosition: { x, y },
    };
  });
  return {
    width: s,
    stack: [
      ...glyphs,
      {
        canvas: [
          { type: 'rect', x: outer / 2, y: outer / 2, w: s - outer, h: s - outer, lineWidth: outer, lineColor: 'black' },
          { type: 'rect', x: inner, y: inner, w: s - 2 * inner, h: s - 2 * inner, lineWidth: 0.6, lineColor: 'black' },
        ],
      },
    ],
  };
}
