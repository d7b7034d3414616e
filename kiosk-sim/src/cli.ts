import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CERT_TYPES, ERRORS, KonbiniError, type CertOptions } from '@konbini/protocol';
import { readCardFile } from './card/card-file.js';
import { VirtualCard } from './card/virtual-card.js';
import { InProcessReader } from './reader/in-process-reader.js';
import { CentreConnection } from './centre/connection.js';
import { TrayPrinter } from './printer/printer.js';
import { runIssuance, type KioskUi } from './session/issuance.js';
import { DEFAULT_CONFIG, loadKioskConfig } from './config.js';

const USAGE = `usage:
  kiosk-sim card list [--json] [--config ${DEFAULT_CONFIG}]
  kiosk-sim issue --card <id> --pin <pin> --type <certType> --tray <dir>
                  [--copies 1-10] [--scope self|household] [--config ${DEFAULT_CONFIG}]

certType: ${CERT_TYPES.join(', ')}`;

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function cardList(args: string[]): number {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' }, config: { type: 'string' } } });
  const cfg = loadKioskConfig(values.config ?? DEFAULT_CONFIG);
  const cards = readdirSync(cfg.cardsDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => readCardFile(join(cfg.cardsDir, f)))
    .map((p) => ({ cardId: p.cardId, holder: p.holderName, pin: p.jpki.authPin, scenario: p.scenario, cityCode: p.cityCode, triesLeft: p.state.authPinTries }));
  if (values.json) {
    out(JSON.stringify(cards, null, 2));
    return 0;
  }
  out('card   PIN   tries  scenario            city    holder (fictional)');
  for (const c of cards) {
    out(`${c.cardId.padEnd(6)} ${c.pin}  ${String(c.triesLeft).padEnd(5)}  ${c.scenario.padEnd(18)}  ${c.cityCode}  ${c.holder}`);
  }
  return 0;
}

async function issue(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      card: { type: 'string' },
      pin: { type: 'string' },
      type: { type: 'string' },
      tray: { type: 'string' },
      copies: { type: 'string', default: '1' },
      scope: { type: 'string', default: 'self' },
      config: { type: 'string' },
    },
  });
  if (!values.card || !values.pin || !values.type || !values.tray) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const cfg = loadKioskConfig(values.config ?? DEFAULT_CONFIG);
  const reader = new InProcessReader();
  let card: VirtualCard;
  try {
    card = VirtualCard.fromFile(join(cfg.cardsDir, `${values.card}.json`));
  } catch (err) {
    throw new KonbiniError('CARD_UNKNOWN', {}, { cause: err });
  }
  const centre = await CentreConnection.connect(cfg.centreUrl, cfg.tls);
  const printer = new TrayPrinter(join(cfg.workDir, cfg.kioskId, 'spool'), resolve(values.tray));
  const pin = values.pin;
  const ui: KioskUi = {
    step: (name, info) => {
      out(`step ${name}${info ? ' ' + Object.entries(info).map(([k, v]) => `${k}=${v}`).join(' ') : ''}`);
      // Headless: the resident takes the card as soon as the kiosk asks.
      if (name === 'remove-card') reader.remove();
    },
    pin: async (_tries, wrong) => {
      if (wrong) throw wrong;
      return pin;
    },
    choose: async () => ({
      certType: values.type!,
      options: { scope: values.scope === 'household' ? 'household' : 'self' } satisfies CertOptions,
      copies: Number(values.copies),
    }),
    pay: async (fee) => {
      out(`paid ${fee} yen`);
      return { paid: fee, change: 0 };
    },
  };
  reader.insert(card);
  try {
    const result = await runIssuance({ kioskId: cfg.kioskId, centreOrigin: cfg.centreOrigin }, reader, centre, printer, ui);
    out(`printed issuance=${result.issuanceId} type=${result.certType} copies=${result.copies} charged=${result.charged}`);
    for (const s of result.sheets) out(`sheet ${s}`);
    return 0;
  } finally {
    centre.close();
    await reader.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [group, sub, ...rest] = argv;
  if (group === 'card' && sub === 'list') return cardList(rest);
  if (group === 'issue') return issue([sub, ...rest].filter((a): a is string => a !== undefined));
  process.stderr.write(`${USAGE}\n`);
  return group === undefined || group === '--help' || group === 'help' ? 0 : 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof KonbiniError) {
      const tries = typeof err.detail.triesLeft === 'number' ? ` (${err.detail.triesLeft} tries left)` : '';
      process.stderr.write(`error ${err.code}: ${ERRORS[err.code].ja} / ${ERRORS[err.code].en}${tries}\n`);
      process.exit(1);
    }
    process.stderr.write(`kiosk-sim: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
