/**
 * The fictional development cities. Prefecture part 99 cannot collide with a real
 * 地方公共団体コード; the names do not exist in Japan. The fixtures generator uses
 * the same list, so the PKI and the resident data agree on codes and names.
 */
export interface DevCity {
  code: string;
  prefecture: string;
  name: string;
}

export const DEV_CITIES: readonly DevCity[] = [
  { code: '991015', prefecture: '東雲県', name: '星見市' },
  { code: '993034', prefecture: '東雲県', name: '風待町' },
];

/** Title of the head of the city as printed and in the document-signing certificate: 「東雲県星見市長」. */
export function mayorTitleOf(c: Pick<DevCity, 'prefecture' | 'name'>): string {
  return `${c.prefecture}${c.name}長`;
}

export function devCity(code: string): DevCity {
  const c = DEV_CITIES.find((x) => x.code === code);
  if (c) return c;
  // Unknown code given on the command line: a neutral fictional name.
  return { code, prefecture: '東雲県', name: `試験市${code}` };
}
