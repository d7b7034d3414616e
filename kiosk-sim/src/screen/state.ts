import type { CertOptions, ErrorCode, MenuItem, MenuRefusal } from '@konbini/protocol';

/** The screens a resident walks through (the page renders one of these). */
export type ScreenName =
  | 'start'
  | 'place-card'
  | 'reading'
  | 'pin'
  | 'checking'
  | 'menu'
  | 'options'
  | 'members'
  | 'copies'
  | 'confirm'
  | 'requesting'
  | 'received'
  | 'pay'
  | 'remove-card'
  | 'printing'
  | 'take'
  | 'error'
  | 'end-remove-card';

export const LANGUAGES = ['ja', 'en', 'zh', 'ko', 'pt', 'es', 'vi'] as const;
export type Lang = (typeof LANGUAGES)[number];

/** Why the start screen is shown again, when the resident should be told. */
export type Notice = 'timeout' | 'cancelled' | 'refunded';

/**
 * Everything the page needs to draw the current screen. Never a PIN (only how
 * many digits were typed), never a name or an address: the menu carries types,
 * options and fees only.
 */
export interface ScreenState {
  /** Increases with every change; an action names the seq it was tapped on. */
  seq: number;
  screen: ScreenName;
  lang: Lang;
  /** When the idle time-out fires (ms since epoch), or null when none runs. */
  idleDeadline: number | null;
  cardPresent: boolean;
  notice?: Notice;
  /** Coins given back at the end of a session (timeout, cancel, failure). */
  refunded?: number;
  /** place-card: a card was already on the reader and must be placed again. */
  replaceCard?: boolean;
  pin?: { length: number; triesLeft: number; wrong: boolean };
  menu?: { cityName: string; items: MenuItem[]; refusals: (MenuRefusal & { ja: string; en: string })[] };
  /**
   * What the resident is choosing. `picked`: the household members ticked on the
   * members screen (opaque refs from the menu, in the menu's order); kept while the
   * resident switches scope back and forth, sent only with scope 'members'.
   */
  choice?: { certType: string; options: CertOptions; copies: number; feePerCopy: number; picked?: string[] };
  pay?: { fee: number; inserted: number; short: number | null };
  change?: number;
  /**
   * Copies done of total, and per side of the two-sided print: the fronts (the
   * certificate's pages) and the backs (one verification page per copy, on the
   * reverse of its last sheet); backs total 0 when the document has none.
   */
  printing?: { done: number; total: number; front: { done: number; total: number }; back: { done: number; total: number } };
  error?: { code: ErrorCode; ja: string; en: string; triesLeft?: number };
}

export type ScreenAction =
  | { action: 'start' }
  | { action: 'lang'; lang: Lang }
  | { action: 'cancel' }
  | { action: 'back' }
  | { action: 'digit'; digit: string }
  | { action: 'pin-clear' }
  | { action: 'pin-delete' }
  | { action: 'pin-ok' }
  | { action: 'choose-type'; certType: string }
  | { action: 'set-option'; key: keyof CertOptions; value: string | number | boolean }
  | { action: 'options-ok' }
  | { action: 'set-member'; ref: string; on: boolean }
  | { action: 'members-ok' }
  | { action: 'copies'; copies: number }
  | { action: 'copies-ok' }
  | { action: 'confirm' }
  | { action: 'to-pay' }
  | { action: 'coin'; yen: number }
  | { action: 'pay' }
  | { action: 'done' };

export const COINS = [10, 50, 100, 500, 1000] as const;
