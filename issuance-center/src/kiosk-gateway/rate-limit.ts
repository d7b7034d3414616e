/**
 * Token buckets per kiosk id, shared by every connection of that kiosk: a kiosk
 * sends a handful of messages per resident, so a burst beyond that is a fault or
 * an attack, and each session.start costs a certificate validation.
 */
export class KioskRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly burst = 40,
    private readonly perSecond = 10,
    private readonly now: () => number = Date.now,
  ) {}

  /** Take one token; false when the kiosk is over its rate. */
  take(kioskId: string): boolean {
    const now = this.now();
    const b = this.buckets.get(kioskId) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    this.buckets.set(kioskId, b);
    if (this.buckets.size > 10_000) this.sweep(now);
    return ok;
  }

  /** Forget full buckets (they behave exactly like new ones). */
  private sweep(now: number): void {
    for (const [id, b] of this.buckets) if (b.tokens + ((now - b.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(id);
  }
}
