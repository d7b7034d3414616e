import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CERT_TYPES, ERRORS, KonbiniError, type CertOptions } from '@konbini/protocol';
import { readCardFile } from './card/card-file.js';
import { VirtualCard } from './card/virtual-card.js';
import { VpcdBridge } from './card/vpcd-bridge.js';
import { InProcessReader } from './reader/in-process-reader.js';
import type { CardReader } from './reader/card-reader.js';
import { formatReaderSpec, openReader, parseReaderSpec, vpcdReaderName, vpcdSlotOf } from './reader/reader-spec.js';
import { CentreConnection } from './centre/connection.js';
import { LpPrinter } from './printer/lp-printer.js';
import { TrayPrinter } from './printer/printer.js';
import { runIssuance, type KioskUi } from './session/issuance.js';
import { OutcomeJournal } from './session/journal.js';
import { DEFAULT_CONFIG, loadKioskConfig, type KioskConfig } from './config.js';
import { PIN_NAMES, createCard, loadCard, pinStatus, unlockCard, type PinName } from './operator/card-store.js';
import { SlotRegistry } from './operator/slots.js';

const USAGE = `usage:
  kiosk-sim card list [--json]
  kiosk-sim card create <id> [--from <fixture card id>] [--fixtures <dir>] [--pin <4 digits>] [--force]
  kiosk-sim card status <id> [--json]
  kiosk-sim card unlock <id> [--pin auth|sign|card-info|all]
  kiosk-sim card insert <id> [--slot 0|1] [--host <vpcd host>]     (stays until card remove or Ctrl-C)
  kiosk-sim card remove [<id>] [--slot 0|1]
  kiosk-sim issue --pin <pin> --type <certType> --tray <dir> [--card <id>]
                  [--reader in-process|pcsc|pcsc:<name>] [--slot 0|1] [--wait <seconds>]
                  [--copies 1-10] [--scope self|household|members] [--members self,妻:1982,...]
  kiosk-sim screen [--port N] [--tray <dir>] [--idle-seconds N]   (the kiosk touch screen, in a browser)
every command takes [--config ${DEFAULT_CONFIG}]

certType: ${CERT_TYPES.join(', ')}`;

class UsageError extends Error {}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function config(path: string | undefined): KioskConfig {
  return loadKioskConfig(path ?? DEFAULT_CONFIG);
}

function slots(cfg: KioskConfig): SlotRegistry {
  return new SlotRegistry(join(cfg.workDir, 'run'));
}

function parseSlot(text: string | undefined, fallback = 0): number {
  if (text === undefined) return fallback;
  if (text !== '0' && text !== '1') throw new UsageError('--slot must be 0 or 1');
  return Number(text);
}

function oneId(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`${what} takes one card id`);
  return positionals[0]!;
}

function cardList(args: string[]): number {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' }, config: { type: 'string' } } });
  const cfg = config(values.config);
  const inserted = new Map(slots(cfg).list().map((c) => [c.cardId, c.slot]));
  const cards = readdirSync(cfg.cardsDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => readCardFile(join(cfg.cardsDir, f)))
    .map((p) => ({
      cardId: p.cardId, holder: p.holderName, pin: p.jpki.authPin, scenario: p.scenario, cityCode: p.cityCode, triesLeft: p.state.authPinTries,
      slot: inserted.get(p.cardId) ?? null,
    }));
  if (values.json) {
    out(JSON.stringify(cards, null, 2));
    return 0;
  }
  out('card   PIN   tries  scenario            city    slot  holder (fictional)');
  for (const c of cards) {
    out(`${c.cardId.padEnd(6)} ${c.pin}  ${String(c.triesLeft).padEnd(5)}  ${c.scenario.padEnd(18)}  ${c.cityCode}  ${(c.slot === null ? '-' : String(c.slot)).padEnd(4)}  ${c.holder}`);
  }
  return 0;
}

function cardCreate(args: string[]): number {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: { from: { type: 'string' }, fixtures: { type: 'string' }, pin: { type: 'string' }, force: { type: 'boolean' }, config: { type: 'string' } },
  });
  const cfg = config(values.config);
  const id = oneId(positionals, 'card create');
  if (values.force && slots(cfg).find(id)) throw new KonbiniError('CARD_IN_USE', { cardId: id });
  const p = createCard(cfg.cardsDir, id, {
    fixturesDir: values.fixtures ? resolve(values.fixtures) : cfg.fixturesCardsDir,
    from: values.from,
    pin: values.pin,
    force: values.force,
  });
  out(`created ${p.cardId} from ${values.from ?? id}: scenario ${p.scenario}, city ${p.cityCode}, PIN ${p.jpki.authPin}, counters reset`);
  return 0;
}

function cardStatus(args: string[]): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' }, config: { type: 'string' } } });
  const cfg = config(values.config);
  const id = oneId(positionals, 'card status');
  const { profile } = loadCard(cfg.cardsDir, id);
  const pins = pinStatus(profile);
  const inserted = slots(cfg).find(id);
  if (values.json) {
    out(JSON.stringify({ cardId: id, pins, locked: pins.some((p) => p.locked), inserted: inserted && { slot: inserted.slot, pid: inserted.pid } }, null, 2));
    return 0;
  }
  out(`card ${id}${inserted ? ` (inserted in ${vpcdReaderName(inserted.slot)}, pid ${inserted.pid})` : ''}`);
  for (const p of pins) {
    out(`  ${p.pin.padEnd(9)} ${p.triesLeft}/${p.maxTries} tries left${p.locked ? '  LOCKED' : ''}   ${p.label}`);
  }
  return 0;
}

function cardUnlock(args: string[]): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { pin: { type: 'string', default: 'all' }, config: { type: 'string' } } });
  const cfg = config(values.config);
  const id = oneId(positionals, 'card unlock');
  const which = values.pin === 'all' ? PIN_NAMES : [values.pin as PinName];
  if (!which.every((w) => PIN_NAMES.includes(w))) throw new UsageError('--pin must be auth, sign, card-info or all');
  loadCard(cfg.cardsDir, id);
  // The inserted card's process owns its file (it writes every counter change back).
  if (slots(cfg).find(id)) throw new KonbiniError('CARD_IN_USE', { cardId: id });
  const status = unlockCard(cfg.cardsDir, id, which);
  out(`unlocked ${id}: ${status.map((p) => `${p.pin} ${p.triesLeft}/${p.maxTries}`).join(', ')}`);
  return 0;
}

/** Puts a card into vpcd (claiming card and slot); the caller keeps it there. */
async function insertIntoVpcd(cfg: KioskConfig, cardId: string, slot: number, host?: string): Promise<{ bridge: VpcdBridge; release: () => void }> {
  const { path } = loadCard(cfg.cardsDir, cardId);
  const release = slots(cfg).claim(cardId, slot);
  try {
    const card = VirtualCard.fromFile(path);
    let bridge: VpcdBridge;
    try {
      bridge = await VpcdBridge.connect(card, { host: host ?? cfg.vpcdHost, slot, confirmWithinMs: 5000 });
    } catch (err) {
      if (err instanceof KonbiniError) throw err;
      throw new KonbiniError('READER_UNAVAILABLE', { slot, reason: (err as NodeJS.ErrnoException).code ?? 'connect' }, { cause: err });
    }
    return { bridge, release };
  } catch (err) {
    release();
    throw err;
  }
}

async function cardInsert(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true, options: { slot: { type: 'string' }, host: { type: 'string' }, config: { type: 'string' } },
  });
  const cfg = config(values.config);
  const id = oneId(positionals, 'card insert');
  const slot = parseSlot(values.slot);
  const stop = new Promise<string>((res) => {
    process.once('SIGINT', () => res('SIGINT'));
    process.once('SIGTERM', () => res('SIGTERM'));
  });
  const { bridge, release } = await insertIntoVpcd(cfg, id, slot, values.host);
  try {
    out(`inserted ${id} into ${vpcdReaderName(slot)} (slot ${slot}, pid ${process.pid}); take it out with: kiosk-sim card remove ${id}`);
    const why = await Promise.race([stop, bridge.whenClosed().then(() => 'vpcd')]);
    if (why === 'vpcd') throw new KonbiniError('READER_UNAVAILABLE', { slot, reason: 'pcscd-closed-connection' });
    await bridge.close();
    out(`removed ${id} from slot ${slot}`);
    return 0;
  } finally {
    release();
  }
}

async function cardRemove(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { slot: { type: 'string' }, config: { type: 'string' } } });
  const cfg = config(values.config);
  if (positionals.length > 1) throw new UsageError('card remove takes at most one card id');
  const inserted = slots(cfg).list().filter((c) =>
    (positionals[0] === undefined || c.cardId === positionals[0]) && (values.slot === undefined || c.slot === parseSlot(values.slot)));
  if (inserted.length === 0) throw new KonbiniError('CARD_NOT_PRESENT', { cardId: positionals[0] });
  if (inserted.length > 1) throw new UsageError(`cards in ${inserted.map((c) => `slot ${c.slot} (${c.cardId})`).join(' and ')}: say which`);
  const c = inserted[0]!;
  process.kill(c.pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (alive(c.pid) && Date.now() < deadline) await sleep(25);
  if (alive(c.pid)) process.kill(c.pid, 'SIGKILL');
  out(`removed ${c.cardId} from slot ${c.slot}`);
  return 0;
}

function requireTray(tray: string | undefined): string {
  if (!tray) throw new UsageError('issue needs --tray (the tray printer), or "printer": "cups:<queue>" in the config');
  return tray;
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
      members: { type: 'string' },
      reader: { type: 'string' },
      slot: { type: 'string' },
      wait: { type: 'string', default: '60' },
      config: { type: 'string' },
    },
  });
  if (!values.pin || !values.type) throw new UsageError('issue needs --pin and --type');
  if (!['self', 'household', 'members'].includes(values.scope!)) throw new UsageError('--scope must be self, household or members');
  if ((values.scope === 'members') !== (values.members !== undefined)) throw new UsageError('--scope members goes with --members (self, or 続柄:year, comma-separated)');
  const wanted = values.members?.split(',').map((x) => x.trim()).filter(Boolean) ?? [];
  if (values.scope === 'members' && (!wanted.length || wanted.some((w) => w !== 'self' && !/^[^:]+:\d{4}$/.test(w)))) {
    throw new UsageError('--members: self, or 続柄:year of birth (e.g. 妻:1982), comma-separated');
  }
  const cfg = config(values.config);
  const trayDir = cfg.printer.kind === 'tray' ? requireTray(values.tray) : null;
  let spec = cfg.reader;
  if (values.reader !== undefined) {
    try { spec = parseReaderSpec(values.reader); } catch (err) { throw new UsageError((err as Error).message); }
  }
  const waitMs = Number(values.wait) * 1000;
  if (!Number.isFinite(waitMs) || waitMs <= 0) throw new UsageError('--wait must be a positive number of seconds');

  // The card: in memory for the in-process reader; through vpcd for PC/SC when --card is
  // given (this process plays the resident's card too); otherwise whatever card the
  // operator put on the reader (`card insert`).
  let reader: CardReader;
  let takeCard: () => void = () => {};
  let cleanup: () => Promise<void> = async () => {};
  if (spec.kind === 'in-process') {
    if (!values.card) throw new UsageError('the in-process reader needs --card');
    const { path } = loadCard(cfg.cardsDir, values.card);
    const inProcess = new InProcessReader();
    inProcess.insert(VirtualCard.fromFile(path));
    reader = inProcess;
    takeCard = () => inProcess.remove();
  } else if (values.card) {
    const slot = parseSlot(values.slot, spec.name ? (vpcdSlotOf(spec.name) ?? -1) : 0);
    if (slot < 0) throw new UsageError(`--card puts a virtual card into vpcd; ${spec.name} is not a vpcd reader`);
    reader = openReader({ kind: 'pcsc', name: vpcdReaderName(slot) });
    let inserted: Awaited<ReturnType<typeof insertIntoVpcd>>;
    try {
      inserted = await insertIntoVpcd(cfg, values.card, slot);
    } catch (err) {
      await reader.close();
      throw err;
    }
    takeCard = () => void inserted.bridge.close();
    cleanup = async () => {
      await inserted.bridge.close();
      inserted.release();
    };
  } else {
    reader = openReader(spec);
    takeCard = () => out('take the card out of the reader (kiosk-sim card remove)');
  }
  const centre = await CentreConnection.connect(cfg.centreUrl, cfg.tls).catch(async (err) => {
    await reader.close();
    await cleanup();
    throw err;
  });
  const printer = cfg.printer.kind === 'cups'
    ? new LpPrinter({ queue: cfg.printer.queue, ...(cfg.printer.server ? { server: cfg.printer.server } : {}) })
    : new TrayPrinter(join(cfg.workDir, cfg.kioskId, 'spool'), resolve(trayDir!));
  const pin = values.pin;
  const ui: KioskUi = {
    step: (name, info) => {
      out(`step ${name}${info ? ' ' + Object.entries(info).map(([k, v]) => `${k}=${v}`).join(' ') : ''}`);
      // Fault injection (test/e2e/faults.test.ts): the kiosk dies on reaching this step, as
      // at a power cut, before it does anything more (a kill from outside races the next message).
      if (name === process.env.KONBINI_KIOSK_CRASH_AT) process.kill(process.pid, 'SIGKILL');
      // Headless: the resident takes the card as soon as the kiosk asks.
      if (name === 'remove-card') takeCard();
    },
    pin: async (_tries, wrong) => {
      if (wrong) throw wrong;
      return pin;
    },
    choose: async (menu) => {
      if (values.scope !== 'members') {
        // Only a type whose menu entry offers the scope gets one (koseki certificates
        // and the seal take none, and the city refuses options it did not offer); a
        // type missing from the menu goes without, so the city answers its own reason.
        const offersScope = menu.items.find((i) => i.certType === values.type)?.options.includes('scope') ?? false;
        const options: CertOptions = offersScope ? { scope: values.scope === 'household' ? 'household' : 'self' } : {};
        return { certType: values.type!, options, copies: Number(values.copies) };
      }
      // The household as the city listed it: each --members entry must name exactly one member.
      const members = menu.items.find((i) => i.certType === values.type)?.members ?? [];
      out(`members ${members.map((m) => `${m.relation}:${m.birthYear}${m.self ? '(self)' : ''}`).join(' ') || '(none listed)'}`);
      const refs = wanted.map((w) => {
        const found = members.filter((m) => (w === 'self' ? m.self : `${m.relation}:${m.birthYear}` === w));
        if (found.length !== 1) throw new KonbiniError('OPTION_NOT_ALLOWED', { reason: found.length ? 'member-ambiguous' : 'no-such-member' });
        return found[0]!.ref;
      });
      const chosen = members.filter((m) => refs.includes(m.ref)).map((m) => m.ref);
      return { certType: values.type!, options: { scope: 'members', members: chosen } satisfies CertOptions, copies: Number(values.copies) };
    },
    pay: async (fee) => {
      out(`paid ${fee} yen`);
      return { paid: fee, change: 0 };
    },
  };
  const interrupted = new AbortController();
  const onSignal = () => interrupted.abort(new KonbiniError('CARD_REMOVED', { reason: 'interrupted' }));
  process.once('SIGINT', onSignal);
  try {
    if (spec.kind === 'pcsc') {
      out(`reader ${formatReaderSpec(spec)}: waiting for a card (${values.wait} s)`);
      await reader.waitForCard(AbortSignal.any([interrupted.signal, AbortSignal.timeout(waitMs)])).catch((err) => {
        throw err instanceof KonbiniError ? err : new KonbiniError('CARD_NOT_PRESENT', { reason: 'timeout' });
      });
    }
    // Outcomes the centre has not acknowledged (ids and counts only), in the kiosk's private directory.
    const journal = new OutcomeJournal(join(cfg.workDir, cfg.kioskId, 'journal'), cfg.kioskId, (event, info) =>
      // "issuance=" (not "issuanceId="): an earlier issuance's id, never taken for this session's
      out(`${event} ${Object.entries(info).map(([k, v]) => `${k === 'issuanceId' ? 'issuance' : k}=${v}`).join(' ')}`),
    );
    const result = await runIssuance(
      { kioskId: cfg.kioskId, centreOrigin: cfg.centreOrigin, journal, ...(cfg.documentTrust ? { documentTrust: cfg.documentTrust } : {}) },
      reader,
      centre,
      printer,
      ui,
      interrupted.signal,
    );
    out(`printed issuance=${result.issuanceId} type=${result.certType} copies=${result.copies} charged=${result.charged}`);
    if (!result.reported) out('the centre could not be told (line dropped after printing): the kiosk journal reports it on the next connection');
    for (const s of result.sheets) out(`sheet ${s}`);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    centre.close();
    await reader.close();
    await cleanup();
  }
}

async function main(argv: string[]): Promise<number> {
  const [group, sub, ...rest] = argv;
  if (group === 'card') {
    switch (sub) {
      case 'list': return cardList(rest);
      case 'create': return cardCreate(rest);
      case 'status': return cardStatus(rest);
      case 'unlock': return cardUnlock(rest);
      case 'insert': return cardInsert(rest);
      case 'remove': return cardRemove(rest);
      default: break;
    }
  }
  if (group === 'issue') return issue([sub, ...rest].filter((a): a is string => a !== undefined));
  // --- kiosk screen (issue 7): its own module, loaded only for this subcommand ---
  if (group === 'screen') return (await import('./screen/cli.js')).screenCommand([sub, ...rest].filter((a): a is string => a !== undefined));
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
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`kiosk-sim: ${(err as Error).message}\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(`kiosk-sim: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
