/**
 * Shared pieces of the bad-input corpus: fixture cards, a raw kiosk WebSocket
 * client that keeps every frame (and the close), and a login that signs the
 * centre's challenge with the card's key the way the card would.
 */
import { createPrivateKey, sign } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { challengeSignedData, type CardProfile, type CardScenario, type CityDataset } from '@konbini/protocol';

export const ROOT = resolve(import.meta.dirname, '../..');
const CARDS = join(ROOT, 'var/fixtures/cards');

export function fixtureCards(): CardProfile[] {
  return readdirSync(CARDS)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(CARDS, f), 'utf8')) as CardProfile);
}

export function fixtureCard(scenario: CardScenario, nth = 0): CardProfile {
  const card = fixtureCards().filter((c) => c.scenario === scenario)[nth];
  if (!card) throw new Error(`no fixture card #${nth} for scenario ${scenario}: run npm run setup`);
  return card;
}

/** A dev-PKI certificate and key by manifest name (var/pki, made by npm run setup). */
export function pkiPem(name: string): { cert: string; key: string } {
  const pki = join(ROOT, 'var/pki');
  const manifest = JSON.parse(readFileSync(join(pki, 'manifest.json'), 'utf8')) as { certs: Record<string, { cert: string; key: string }> };
  const rec = manifest.certs[name];
  if (!rec) throw new Error(`no ${name} in the dev PKI`);
  return { cert: readFileSync(join(pki, rec.cert), 'utf8'), key: readFileSync(join(pki, rec.key), 'utf8') };
}

/** The fixture city's dataset (var/fixtures/city-<code>.json). */
export function fixtureCity(code: string): CityDataset {
  return JSON.parse(readFileSync(join(ROOT, 'var/fixtures', `city-${code}.json`), 'utf8')) as CityDataset;
}

export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** What a case expects from the peer: an error message with this code, or a close with this code. */
export type Frame = Record<string, unknown>;

/*
 * The centre limits messages per kiosk id (token bucket: burst 40, 10 per second by
 * default). The corpus is not a flood: it paces itself below that, per kiosk id, so a
 * case's answer is about its input and never about the rate.
 */
const PACE = { burst: 30, perSecond: 8 };
const buckets = new Map<string, { tokens: number; at: number }>();
async function paced(kioskId: string): Promise<void> {
  for (;;) {
    const now = Date.now();
    const b = buckets.get(kioskId) ?? { tokens: PACE.burst, at: now };
    b.tokens = Math.min(PACE.burst, b.tokens + ((now - b.at) / 1000) * PACE.perSecond);
    b.at = now;
    buckets.set(kioskId, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return;
    }
    await new Promise((r) => setTimeout(r, Math.ceil(((1 - b.tokens) / PACE.perSecond) * 1000)));
  }
}

/** A kiosk over mutual TLS that keeps every frame it receives, in order. */
export class RawKiosk {
  private readonly frames: Frame[] = [];
  private waiter: (() => void) | null = null;
  private outbox: Promise<void> = Promise.resolve();
  readonly closed: Promise<{ closed: number; reason: string }>;

  private constructor(
    readonly ws: WebSocket,
    readonly kioskId: string,
  ) {
    ws.on('message', (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      this.frames.push(isBinary ? { binary: buf.length } : (JSON.parse(buf.toString('utf8')) as Frame));
      this.waiter?.();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        const c = { closed: code, reason: reason.toString() };
        this.frames.push(c);
        this.waiter?.();
        resolve(c);
      }),
    );
    ws.on('error', () => {
      /* the close event follows; the case asserts it */
    });
  }

  static connect(url: string, tls: { key: string; cert: string; ca: string }, kioskId = 'K0001'): Promise<RawKiosk> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { key: tls.key, cert: tls.cert, ca: tls.ca, maxPayload: 64 * 1024 * 1024 });
      const k = new RawKiosk(ws, kioskId);
      ws.once('open', () => resolve(k));
      ws.once('error', reject);
    });
  }

  /** Queued in order, paced per kiosk id. */
  send(frame: string | Buffer | object, opts: { binary?: boolean } = {}): void {
    this.outbox = this.outbox.then(async () => {
      await paced(this.kioskId);
      if (this.ws.readyState !== WebSocket.OPEN) return;
      if (typeof frame === 'string') this.ws.send(frame, { binary: false });
      else if (Buffer.isBuffer(frame)) this.ws.send(frame, { binary: opts.binary ?? true });
      else this.ws.send(JSON.stringify(frame), { binary: false });
    });
  }

  /** The next text message or the close, skipping binary document chunks; fails after `ms`. */
  async next(ms = 5000): Promise<Frame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const f = this.frames.shift();
      if (f && !('binary' in f)) return f;
      if (f) continue;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          this.waiter = null;
          resolve();
        };
      });
    }
  }

  /** Frames already received and not yet read (no waiting). */
  pending(): Frame[] {
    return this.frames.filter((f) => !('binary' in f));
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }
}

/** The card's answer to a challenge: RSASSA-PKCS1-v1_5 / SHA-256 over H(origin#kiosk) || H(nonce). */
export function cardSignature(card: CardProfile, origin: string, kioskId: string, nonceB64: string): string {
  const key = createPrivateKey({ key: Buffer.from(card.jpki.authKeyPkcs8, 'base64'), format: 'der', type: 'pkcs8' });
  return sign('sha256', challengeSignedData(origin, kioskId, Buffer.from(nonceB64, 'base64')), key).toString('base64');
}

export async function challenge(k: RawKiosk, authCertB64: string): Promise<{ sessionId: string; nonce: string }> {
  k.send({ type: 'session.start', authCert: authCertB64 });
  const m = await k.next();
  if (m.type !== 'session.challenge') throw new Error(`expected a challenge, got ${JSON.stringify(m)}`);
  return { sessionId: m.sessionId as string, nonce: m.nonce as string };
}

/** session.start → challenge → signed auth → menu. */
export async function login(k: RawKiosk, card: CardProfile, origin: string): Promise<{ sessionId: string; menu: Frame }> {
  const { sessionId, nonce } = await challenge(k, card.jpki.authCertDer);
  k.send({ type: 'session.auth', sessionId, signature: cardSignature(card, origin, k.kioskId, nonce) });
  const menu = await k.next(15000);
  if (menu.type !== 'session.menu') throw new Error(`expected the menu, got ${JSON.stringify(menu)}`);
  return { sessionId, menu };
}
