/**
 * Render the certificate types other than the 住民票 family to PDF bytes carrying the
 * binding placeholder (sealed and signed by renderAndBind, like the 住民票).
 */
import { BINDING_KEY, BINDING_PLACEHOLDER } from '@konbini/protocol';
import { renderPdf, type RenderOptions } from './fonts.js';
import { COMMON_TEXT, checkFramedLayout, type CopyLayout } from './frame.js';
import type { CertificateModel, DocumentHead, FuhyoModel, KosekiModel, SealModel, TaxIncomeModel } from './model.js';
import { assertKosekiPrintable, fuhyoDocument, KOSEKI_TEXT, kosekiDocument, kosekiTitle } from './koseki.js';
import { renderResidentRecord } from './resident-record.js';
import { appendInfo } from './pdf-info.js';
import { SEAL_TEXT, assertSealPrintable, sealDocument } from './seal-certificate.js';
import { assertTaxPrintable, taxIncomeDocument, taxTitle } from './tax-income.js';

async function finish(head: DocumentHead, title: string, doc: (layout: CopyLayout) => object, options?: RenderOptions): Promise<Buffer> {
  const layout: CopyLayout = { pageCount: 0, pagesOf: new Map() };
  const pdf = await renderPdf(doc(layout), options);
  checkFramedLayout(head, layout);
  return appendInfo(
    pdf,
    { Title: title, Subject: COMMON_TEXT.documentSubject, Creator: 'konbini city-cert-server', Producer: 'pdfmake/pdfkit', CreationDate: head.issuedAt },
    { [BINDING_KEY]: BINDING_PLACEHOLDER },
  );
}

export async function renderSealCertificate(model: SealModel, options?: RenderOptions): Promise<Buffer> {
  assertSealPrintable(model);
  return finish(model, SEAL_TEXT.documentTitle, (layout) => sealDocument(model, layout), options);
}

export async function renderTaxIncome(model: TaxIncomeModel, options?: RenderOptions): Promise<Buffer> {
  assertTaxPrintable(model);
  return finish(model, taxTitle(model), (layout) => taxIncomeDocument(model, layout), options);
}

export async function renderKoseki(model: KosekiModel | FuhyoModel, options?: RenderOptions): Promise<Buffer> {
  assertKosekiPrintable(model);
  return model.certType === 'koseki-fuhyo'
    ? finish(model, KOSEKI_TEXT.fuhyoTitle, (layout) => fuhyoDocument(model, layout), options)
    : finish(model, kosekiTitle(model), (layout) => kosekiDocument(model, layout), options);
}

/** Any certificate type to PDF bytes with the binding placeholder (not yet bound or signed). */
export async function renderCertificatePdf(model: CertificateModel, options?: RenderOptions): Promise<Buffer> {
  switch (model.certType) {
    case 'seal':
      return renderSealCertificate(model, options);
    case 'tax-income':
      return renderTaxIncome(model, options);
    case 'koseki-full':
    case 'koseki-individual':
    case 'koseki-fuhyo':
      return renderKoseki(model, options);
    default:
      return renderResidentRecord(model, options);
  }
}
