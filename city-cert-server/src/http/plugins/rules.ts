import fp from 'fastify-plugin';
import { DEFAULT_CERT_FONT, isPrintable, loadFontCharset, type Charset } from '../../rules/printable.js';

export interface Eligibility {
  /** True when a kiosk can print the text exactly: used for names and addresses. */
  printable: (text: string) => boolean;
  /** The clock rules and documents use; injectable for tests. */
  now: () => Date;
}

declare module 'fastify' {
  interface FastifyInstance {
    eligibility: Eligibility;
  }
}

export interface RulesPluginOptions {
  /** Font whose cmap defines the printable characters (IPAmj Mincho by default). */
  fontPath?: string;
  now?: () => Date;
}

/**
 * The allow-list is the certificate font's cmap (plus variation selectors after a
 * base character), refined by the renderer's exact check that a variation sequence
 * is registered in the font: the menu never offers what the renderer would refuse.
 */
export const rulesPlugin = fp<RulesPluginOptions>(
  async (app, opts) => {
    const charset: Charset = await loadFontCharset(opts.fontPath ?? DEFAULT_CERT_FONT);
    app.log.info({ charsetSize: charset.size }, 'printable characters loaded');
    const exact = app.renderer.unprintable;
    app.decorate('eligibility', {
      printable: (text: string) => isPrintable(text, charset) && exact(text).length === 0,
      now: opts.now ?? (() => new Date()),
    });
  },
  { name: 'rules', fastify: '5.x', dependencies: ['render'] },
);
