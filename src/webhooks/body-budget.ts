/**
 * Bytes of webhook bodies held in memory at once, in one process. Each body
 * is capped on its own (`WEBHOOK_BODY_LIMIT`); this caps them together, so a
 * crowd of large requests cannot grow the process without bound. A body is
 * counted as it arrives, chunk by chunk, and given back when the request has
 * been answered.
 */
export class BodyBudget {
  readonly limit: number;
  #held = 0;
  #peak = 0;
  #taken = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes held now. */
  get held(): number {
    return this.#held;
  }

  /** The most ever held at once. */
  get peak(): number {
    return this.#peak;
  }

  /** Every byte ever taken: how much of webhook bodies this process has read. */
  get taken(): number {
    return this.#taken;
  }

  /** Bytes that can still be taken. */
  get free(): number {
    return this.limit - this.#held;
  }

  /** Takes `bytes` if they fit under the limit; takes nothing and says false if not. */
  take(bytes: number): boolean {
    if (bytes > this.free) return false;
    this.#held += bytes;
    this.#taken += bytes;
    this.#peak = Math.max(this.#peak, this.#held);
    return true;
  }

  give(bytes: number): void {
    this.#held = Math.max(0, this.#held - bytes);
  }
}
