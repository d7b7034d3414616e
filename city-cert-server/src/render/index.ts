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
export { RESIDENT_ENTRIES_TEXT, residentTexts } from './resident-record.js';
export { renderSealCertificate, renderTaxIncome } from './certificate.js';
export { SEAL_TEXT, sealDocument } from './seal-certificate.js';
export { TAX_TEXT, fiscalYearHeading, taxIncomeDocument, taxTitle } from './tax-income.js';
export { COMMON_TEXT, issuanceLineOf } from './frame.js';
