/**
 * Decides when deploys run: one at a time per site, at most `concurrency`
 * at once overall. While a site is building, a newer push waits as the
 * site's one pending deploy; a still newer one replaces it (the replaced one
 * is reported as superseded), so a burst of pushes builds only the last.
 */
export interface QueueItem {
  id: string;
  site: string;
}

export interface DeployQueueOptions<T extends QueueItem> {
  concurrency: number;
  run(item: T): Promise<void>;
  /** An item that will never run because a newer one for its site replaced it. */
  superseded(item: T, by: T): void;
  /** `run` records its own failures; this hears of one it could not record. */
  crashed(item: T, error: unknown): void;
}

export class DeployQueue<T extends QueueItem> {
  readonly #options: DeployQueueOptions<T>;
  readonly #running = new Map<string, T>();
  readonly #pending = new Map<string, T>();
  /** Sites with a pending item, in the order they started waiting. */
  readonly #waiting: string[] = [];
  readonly #idle: Array<() => void> = [];

  constructor(options: DeployQueueOptions<T>) {
    this.#options = options;
  }

  add(item: T): void {
    const older = this.#pending.get(item.site);
    this.#pending.set(item.site, item);
    if (older !== undefined) this.#options.superseded(older, item);
    else this.#waiting.push(item.site);
    this.#pump();
  }

  /** Takes out an item that has not started; false when it is not waiting (running, done, or never added). */
  remove(item: T): boolean {
    if (this.#pending.get(item.site)?.id !== item.id) return false;
    this.#pending.delete(item.site);
    this.#waiting.splice(this.#waiting.indexOf(item.site), 1);
    if (this.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
    return true;
  }

  /** Items not yet started, by site. */
  pending(site: string): T | undefined {
    return this.#pending.get(site);
  }

  running(site: string): T | undefined {
    return this.#running.get(site);
  }

  get size(): number {
    return this.#running.size + this.#pending.size;
  }

  /** Resolves when nothing runs or waits. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #pump(): void {
    for (let i = 0; i < this.#waiting.length && this.#running.size < this.#options.concurrency; ) {
      const site = this.#waiting[i] as string;
      if (this.#running.has(site)) {
        i++;
        continue;
      }
      this.#waiting.splice(i, 1);
      const item = this.#pending.get(site) as T;
      this.#pending.delete(site);
      this.#running.set(site, item);
      void this.#options
        .run(item)
        .catch((error: unknown) => this.#options.crashed(item, error))
        .finally(() => {
          this.#running.delete(site);
          this.#pump();
          if (this.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
        });
    }
  }
}
