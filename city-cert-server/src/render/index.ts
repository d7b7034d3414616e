export * from './model.js';
export { formatWareki, formatSeireki, parseCalendarDate, tokyoDateOf, yyyymmdd, type CalendarDate } from './wareki.js';
export { FONT_FILES, parsedFont, pdfMake, renderPdf, unprintable, registeredVariant, type FontName } from './fonts.js';
export { appendInfo } from './pdf-info.js';
export { SEAL_SIZE_PT, sealNode } from './seal.js';
export {
  RESIDENT_RECORD_TEXT,
  assertPrintable,
  checkCopyLayout,
  copySerial,
  issuanceLine,
  type CopyLayout,
  personsPerPage,
  residentRecordDocument,
  renderResidentRecord,
  renderAndBind,
  type PdfSigner,
} from './resident-record.js';
