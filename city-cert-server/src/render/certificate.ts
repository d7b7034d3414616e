/**
 * Render the certificate types other than the 住民票 family to PDF bytes carrying the
 * binding placeholder (sealed and signed by renderAndBind, like the 住民票).
 */
import { BINDING_KEY, BINDING_PLACEHOLDER } from '@konbini/protocol';
import { renderPdf } from './fonts.js';
import { COMMON_TEXT, checkFramedLayout, type CopyLayout } from './frame.js';
import type { DocumentHead, SealModel, TaxIncomeModel } from './model.js';
import { appendInfo } from './pdf-info.js';
import { SEAL_TEXT, assertSealPrintable, sealDocument } from './seal-certificate.js';
import { assertTaxPrintable, taxIncomeDocument, taxTitle } from './tax-income.js';

async function finish(head: DocumentHead, title: string, doc: (layout: CopyLayout) => object): Promise<Buffer> {
  const layout: CopyLayout = { pageCount: 0, pagesOf: new Map() };
  const pdf = await renderPdf(doc(layout));
  checkFramedLayout(head, layout);
  return appendInfo(
    pdf,
    { Title: title, Subject: COMMON_TEXT.documentSubject, Creator: 'konbini city-cert-server', Producer: 'pdfmake/pdfkit', CreationDate: head.issuedAt },
    { [BINDING_KEY]: BINDING_PLACEHOLDER },
  );
}

export async function renderSealCertificate(model: SealModel): Promise<Buffer> {
  assertSealPrintable(model);
  return finish(model, SEAL_TEXT.documentTitle, (layout) => sealDocument(model, layout));
}

export async function renderTaxIncome(model: TaxIncomeModel): Promise<Buffer> {
  assertTaxPrintable(model);
  return finish(model, taxTitle(model), (layout) => taxIncomeDocument(model, layout));
}
