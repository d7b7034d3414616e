/**
 * Stable error codes: one code per concept, used the same way in schemas, code,
 * logs and on the kiosk screen. A code never changes meaning once released; new
 * concepts get new codes. Each code carries the text a resident reads at the kiosk
 * (Japanese first) and the HTTP status used when it crosses an HTTP boundary.
 */
export interface ErrorInfo {
  /** HTTP status when the error crosses an HTTP boundary. */
  readonly status: number;
  /** What the resident (or operator) reads, in Japanese. */
  readonly ja: string;
  /** The same in English. */
  readonly en: string;
}

function e(status: number, ja: string, en: string): ErrorInfo {
  return { status, ja, en };
}

export const ERRORS = {
  // --- messages and transport ---
  MESSAGE_INVALID: e(400, '通信内容に誤りがあります。', 'The message is malformed.'),
  MESSAGE_TOO_LARGE: e(413, '通信内容が大きすぎます。', 'The message is too large.'),
  MESSAGE_UNKNOWN_TYPE: e(400, '不明な要求です。', 'Unknown message type.'),
  MESSAGE_OUT_OF_ORDER: e(409, '手順が正しくありません。最初からやり直してください。', 'Step out of order. Please start again.'),
  SESSION_UNKNOWN: e(404, '操作の有効期限が切れました。最初からやり直してください。', 'The session has expired. Please start again.'),

  // --- kiosk identity ---
  KIOSK_UNKNOWN: e(403, 'この端末は登録されていません。', 'This kiosk is not registered.'),
  KIOSK_REVOKED: e(403, 'この端末は利用停止中です。', 'This kiosk has been suspended.'),
  KIOSK_RATE_LIMITED: e(429, 'ただいま混み合っています。しばらくしてからお試しください。', 'Too many requests. Please try again shortly.'),

  // --- the card at the kiosk ---
  CARD_NOT_PRESENT: e(400, 'カードを置いてください。', 'Please place your card.'),
  CARD_REMOVED: e(400, 'カードが取り外されました。最初からやり直してください。', 'The card was removed. Please start again.'),
  KIOSK_IDLE_TIMEOUT: e(408, '一定時間操作がなかったため、最初の画面に戻りました。', 'Nothing was done for a while, so the kiosk went back to the start.'),
  RESIDENT_CANCELLED: e(400, '操作を中止しました。', 'You cancelled.'),
  CARD_UNREADABLE: e(400, 'カードを読み取れません。置き直してください。', 'The card could not be read. Please place it again.'),
  CARD_UNKNOWN: e(404, 'このカードは見つかりません。', 'This card is not known.'),
  PIN_WRONG: e(401, '暗証番号が違います。', 'The PIN is incorrect.'),
  PIN_LOCKED: e(423, '暗証番号がロックされています。市区町村の窓口で解除してください。', 'The PIN is locked. Please have it reset at your city hall.'),
  PIN_FORMAT: e(400, '暗証番号は数字4桁です。', 'The PIN is 4 digits.'),
  CARD_IN_USE: e(409, 'このカードは使用中です。', 'This card is in use (inserted in a reader).'),
  CARD_EXISTS: e(409, '同じ番号のカードが既にあります。', 'A card with this id already exists.'),
  READER_UNAVAILABLE: e(503, 'カードリーダーを利用できません。係員にお知らせください。', 'The card reader is not available. Please call staff.'),
  READER_SLOT_BUSY: e(409, 'カードリーダーに別のカードが置かれています。', 'Another card is already in this reader.'),

  // --- card certificate and challenge (centre) ---
  CARD_CERT_INVALID: e(400, 'カードの電子証明書を読み取れません。', 'The card certificate cannot be read.'),
  CARD_CERT_UNTRUSTED: e(403, 'カードの電子証明書を確認できません。', 'The card certificate is not issued by a trusted authority.'),
  CARD_CERT_EXPIRED: e(403, 'カードの電子証明書の有効期限が切れています。市区町村の窓口で更新してください。', 'The card certificate has expired. Please renew it at your city hall.'),
  CARD_CERT_NOT_YET_VALID: e(403, 'カードの電子証明書はまだ有効になっていません。', 'The card certificate is not valid yet.'),
  CARD_CERT_KEY_USAGE: e(403, 'カードの電子証明書の用途が正しくありません。', 'The card certificate is not for user authentication.'),
  CARD_CERT_REVOKED: e(403, 'カードの電子証明書は失効しています。市区町村の窓口にお問い合わせください。', 'The card certificate has been revoked. Please contact your city hall.'),
  CRL_STALE: e(503, 'ただいま本人確認ができません。しばらくしてからお試しください。', 'Revocation data is out of date; identity cannot be checked now.'),
  CRL_UNAVAILABLE: e(503, 'ただいま本人確認ができません。しばらくしてからお試しください。', 'No valid revocation list is loaded; identity cannot be checked now.'),
  CARD_CERT_TAMPERED: e(403, 'カードの電子証明書を確認できません。', 'The card certificate signature does not verify: it was altered.'),
  CHALLENGE_UNKNOWN: e(403, '本人確認に失敗しました。最初からやり直してください。', 'Unknown challenge. Please start again.'),
  CHALLENGE_EXPIRED: e(403, '操作の有効期限が切れました。最初からやり直してください。', 'The challenge has expired. Please start again.'),
  CHALLENGE_REPLAYED: e(403, '本人確認に失敗しました。最初からやり直してください。', 'The challenge was already used.'),
  CHALLENGE_WRONG_KIOSK: e(403, '本人確認に失敗しました。最初からやり直してください。', 'The challenge belongs to another kiosk.'),
  SIGNATURE_INVALID: e(403, '本人確認に失敗しました。最初からやり直してください。', 'The card signature is not valid.'),
  CARD_NOT_LINKED: e(403, 'このカードではコンビニ交付を利用できません。市区町村の窓口にお問い合わせください。', 'This card is not registered for kiosk issuance.'),
  CARD_LINK_NOT_YET_VALID: e(403, 'カードの交付日当日は利用できません。翌日以降にご利用ください。', 'The card can be used from the day after it was issued.'),

  // --- routing and the city ---
  CITY_UNKNOWN: e(404, 'お住まいの市区町村はコンビニ交付を行っていません。', 'Your city does not offer kiosk issuance.'),
  CITY_SUSPENDED: e(503, 'お住まいの市区町村は現在サービスを停止しています。', 'Your city has suspended the service.'),
  OUTSIDE_SERVICE_HOURS: e(503, 'サービス時間外です（6:30～23:00）。', 'Outside service hours (6:30-23:00).'),
  CERT_TYPE_OUTSIDE_HOURS: e(503, 'この証明書は現在の時間帯には発行できません（市区町村が定める取扱時間外です）。', 'This certificate is not issued at this time (outside the hours your city sets for it).'),
  CITY_UNREACHABLE: e(502, '市区町村のシステムに接続できません。しばらくしてからお試しください。', 'The city system cannot be reached.'),
  CITY_PROTOCOL: e(502, '市区町村のシステムから正しい応答がありません。', 'The city system answered incorrectly.'),
  CITY_CERT_MISMATCH: e(502, '市区町村のシステムを確認できません。', 'The city server certificate does not match its registration.'),
  REPLICA_STALE: e(503, 'ただいま証明書を発行できません。市区町村の窓口をご利用ください。', 'The city data is not current; certificates cannot be issued now.'),

  // --- what may be issued ---
  CERT_TYPE_UNKNOWN: e(400, 'その証明書は取り扱っていません。', 'Unknown certificate type.'),
  CERT_TYPE_NOT_OFFERED: e(403, 'その証明書はコンビニでは発行できません。', 'This certificate is not offered at kiosks by your city.'),
  OPTION_NOT_ALLOWED: e(400, '選択された記載事項は指定できません。', 'The selected option is not allowed.'),
  /** A household member chosen from the menu is no longer in the holder's household (moved out, died, changed household). */
  HOUSEHOLD_MEMBER_GONE: e(409, '選択された世帯員は現在この世帯に記録されていません。最初からやり直してください。', 'A household member you chose is no longer recorded in your household. Please start again.'),
  COPIES_OUT_OF_RANGE: e(400, '通数は1～10通で指定してください。', 'Copies must be between 1 and 10.'),
  RESIDENT_NOT_FOUND: e(404, '住民記録が見つかりません。市区町村の窓口にお問い合わせください。', 'No resident record was found.'),
  RESIDENT_MOVED_OUT: e(403, '転出された方は発行できません。', 'Not available after moving out of the city.'),
  RESIDENT_MOVING_OUT: e(403, '転出の届出をされた方（世帯）は発行できません。窓口をご利用ください。', 'Not available after a notice of moving out (for you or your household).'),
  RESIDENT_DECEASED: e(403, '発行できません。窓口をご利用ください。', 'Not available. Please use the counter.'),
  SUPPORT_MEASURE: e(403, 'コンビニでは発行できません。窓口をご利用ください。', 'Not available at kiosks. Please use the counter.'),
  UNPRINTABLE_CHARACTERS: e(403, '氏名・住所にコンビニで印字できない文字が含まれています。窓口をご利用ください。', 'Your name or address contains characters kiosks cannot print. Please use the counter.'),
  MOVED_IN_TODAY: e(403, '転入の届出の当日は発行できません。', 'Not available on the day of moving in.'),
  UNDER_15: e(403, '15歳未満の方はご利用いただけません。', 'Residents under 15 cannot use kiosk issuance.'),
  SEAL_NOT_REGISTERED: e(403, '印鑑登録がありません。', 'No seal is registered.'),
  SEAL_ABOLISHED: e(403, '印鑑登録は廃止されています。', 'The seal registration has been abolished.'),
  SEAL_REGISTRANT_INELIGIBLE: e(403, '印鑑登録証明書はコンビニでは発行できません。窓口をご利用ください。', 'The seal certificate cannot be issued at kiosks for this registrant.'),
  TAX_RECORD_MISSING: e(404, '該当年度の課税情報がありません。', 'No tax record for that fiscal year.'),
  KOSEKI_PENDING: e(403, '戸籍の届出を処理中のため発行できません。', 'A filing on the family register is being processed.'),
  KOSEKI_NOT_SERVED: e(403, '本籍地の戸籍証明書はこの端末では発行できません。', 'Your family register is not served for kiosk issuance.'),

  // --- the document on its way to paper ---
  DOCUMENT_TRUNCATED: e(502, '証明書データを受信できませんでした。料金はかかりません。', 'The document did not arrive complete. You have not been charged.'),
  DOCUMENT_HASH_MISMATCH: e(502, '証明書データに誤りがあるため印刷を中止しました。料金はかかりません。', 'The document failed its integrity check and was not printed. You have not been charged.'),
  DOCUMENT_BINDING_MISMATCH: e(502, '証明書データがご本人のものと一致しないため印刷を中止しました。料金はかかりません。', 'The document does not belong to this session and was not printed. You have not been charged.'),
  DOCUMENT_SIGNATURE_INVALID: e(502, '証明書データの電子署名を確認できないため印刷を中止しました。料金はかかりません。', 'The document signature could not be verified (missing, altered or not from a trusted signer), so it was not printed. You have not been charged.'),
  ISSUANCE_UNKNOWN: e(404, '発行要求が見つかりません。', 'Unknown issuance.'),
  // A kiosk's late report of an outcome it could not deliver in its session (line lost, kiosk restarted).
  LATE_OUTCOME_EXPIRED: e(410, '印刷結果の報告が受付期限を過ぎたため、発行は未印刷（料金なし）として記録済みです。係員にお知らせください。', 'The late print report came after the grace period: the issuance was already recorded failed (not charged). The operator has been alerted.'),
  LATE_OUTCOME_WRONG_KIOSK: e(403, 'この端末が受け取った発行ではありません。', 'The report names an issuance delivered to another kiosk.'),
  LATE_OUTCOME_CONFLICT: e(409, 'この発行の結果は別の内容で記録済みです。', 'The issuance is already recorded with another outcome.'),

  // --- the city's document-signing token (PKCS#11) ---
  SIGNER_TOKEN_MISSING: e(503, 'ただいま証明書を発行できません。しばらくしてからお試しください。', 'The city document-signing token is not present.'),
  SIGNER_PIN_INCORRECT: e(503, 'ただいま証明書を発行できません。しばらくしてからお試しください。', 'The city document-signing token refused its PIN.'),
  SIGNER_FAILED: e(503, 'ただいま証明書を発行できません。しばらくしてからお試しください。', 'The city document-signing token could not sign.'),
  RENDER_FAILED: e(503, 'ただいま証明書を作成できません。しばらくしてからお試しください。料金はかかりません。', 'The certificate could not be rendered (the renderer stopped and was restarted). You have not been charged.'),

  // --- payment and printing ---
  PAYMENT_SHORT: e(402, '投入金額が不足しています。', 'The amount paid is less than the fee.'),
  PRINTER_JAM: e(503, '紙詰まりのため印刷できませんでした。料金はかかりません。', 'Paper jam: not printed. You have not been charged.'),
  PRINTER_OUT_OF_PAPER: e(503, '用紙切れのため印刷できませんでした。料金はかかりません。', 'Out of paper: not printed. You have not been charged.'),
  PRINTER_UNAVAILABLE: e(503, 'プリンターが使えないため印刷できませんでした。料金はかかりません。', 'The printer is not available: not printed. You have not been charged.'),

  // --- city replica sync (city staff and the core 住基 system, never a kiosk) ---
  SYNC_INPUT_INVALID: e(400, '連携データに誤りがあります（行・項目・理由を確認してください）。', 'The sync file has invalid rows (see line, field and reason).'),
  SYNC_TRUNCATED: e(400, '連携データが途中で終わっています。', 'The sync file is truncated (no end record, or counts do not match).'),
  SYNC_CITY_MISMATCH: e(400, '連携データの団体コードがこの市区町村と一致しません。', 'The sync file is for another city.'),
  SYNC_GAP: e(409, '異動の連番に欠番があります。欠けている異動から送り直してください。', 'Change sequence gap: resend from the first missing change.'),
  SYNC_SEQUENCE_CONFLICT: e(409, '同じ連番で内容の異なる異動が送られました。', 'A change was resent under a used sequence number with other content.'),
  SYNC_UNKNOWN_RECORD: e(422, '異動の対象（住民・世帯・カード）が見つかりません。', 'A change refers to a resident, household or card the replica does not hold.'),
  SYNC_RECORD_CONFLICT: e(422, '異動の内容が現在の住民記録と矛盾します。', 'A change contradicts the current record (e.g. moving in an existing resident).'),
  SYNC_IN_PROGRESS: e(409, '別の連携処理が実行中です。終了後にやり直してください。', 'Another load or sync is running; try again when it has finished.'),

  // --- operators ---
  UNAUTHENTICATED: e(401, 'ログインしてください。', 'Please log in.'),
  FORBIDDEN: e(403, '権限がありません。', 'Not permitted.'),
  OPERATOR_LOGIN_FAILED: e(401, 'ログインできません。名前・パスワード・確認コードを確かめてください。', 'Login failed: check name, password and one-time code.'),
  OPERATOR_LOCKED: e(423, '失敗が続いたためロックされています。しばらくしてからお試しください。', 'Locked after repeated failures. Try again later.'),

  // --- the city replica's protection at rest (data key wrapped in the city's PKCS#11 token) ---
  REPLICA_KEY_UNAVAILABLE: e(503, 'ただいま証明書を発行できません。しばらくしてからお試しください。', 'The key protecting the city data is not available (token, wrapping key or data key missing).'),
  REPLICA_FIELD_UNREADABLE: e(500, 'ただいま証明書を発行できません。市区町村の窓口をご利用ください。', 'A protected field of the city data failed its integrity check.'),

  INTERNAL: e(500, 'システムエラーが発生しました。料金はかかりません。', 'A system error occurred. You have not been charged.'),
} as const satisfies Record<string, ErrorInfo>;

export type ErrorCode = keyof typeof ERRORS;
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERRORS, value);
}

/**
 * The one error class that crosses boundaries. `detail` is for logs and must
 * hold ids and hashes only, never personal data.
 */
export class KonbiniError extends Error {
  readonly code: ErrorCode;
  readonly detail: Record<string, string | number | boolean | undefined>;

  constructor(code: ErrorCode, detail: Record<string, string | number | boolean | undefined> = {}, options?: { cause?: unknown }) {
    super(`${code}: ${ERRORS[code].en}`, options);
    this.name = 'KonbiniError';
    this.code = code;
    this.detail = detail;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  /** The body sent across a boundary: code and both texts, no detail. */
  toBody(): ErrorBody {
    return { code: this.code, message: ERRORS[this.code].en, messageJa: ERRORS[this.code].ja };
  }
}

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  messageJa: string;
}

/** Rebuild a KonbiniError from a body received over the wire; unknown codes become INTERNAL. */
export function errorFromBody(body: unknown): KonbiniError {
  const code = (body as { code?: unknown } | null)?.code;
  return new KonbiniError(isErrorCode(code) ? code : 'INTERNAL', isErrorCode(code) ? {} : { remoteCode: String(code) });
}

/** Extra info the kiosk may show with PIN_WRONG. */
export interface PinWrongDetail {
  triesLeft: number;
}
