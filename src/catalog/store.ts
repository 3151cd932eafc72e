// The catalog's state machine (state.ts) driven for real: its checkpoint on disk, written now and
// then and never on a trade's path; approvals held while the entries they need are applied; lookups
// held while a trade on their stock is approved and its fate unknown (G5: it may be acknowledged
// already; G8: it is not shown before it commits); a progress line while it rebuilds.
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { StockSeed } from '../core/config.ts';
import { BazaarError } from '../core/errors.ts';
import { CATALOG_CATCH_UP_WAIT_MS, CATALOG_CHECKPOINT_MS, CATALOG_PROGRESS_EVERY_MS } from '../core/limits.ts';
import type { Logger } from '../core/logger.ts';
import type { Stock } from '../core/trade.ts';
import type { ApplyReply, ApplyRequest, Approval, ApproveRequest } from '../protocol/catalog.ts';
import { lockFile } from '../storage/lock.ts';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { CatalogState } from './state.ts';

interface Waiting {
  readonly ready: () => boolean;
  readonly resolve: () => void;
}

export class CatalogStore {
  readonly state: CatalogState;
  private readonly file: string;
  private readonly logger: Logger;
  private readonly release: () => Promise<void>;
  /** Callers waiting for the state to move (a reservation settled, entries applied). */
  private waiting: Waiting[] = [];
  private checkpointTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  /** The checkpoint on disk is through this order. */
  private savedThrough: number;
  private readonly startedAt = performance.now();
  private progressAt = 0;
  private closed = false;

  private constructor(state: CatalogState, file: string, logger: Logger, release: () => Promise<void>) {
    this.state = state;
    this.file = file;
    this.logger = logger;
    this.release = release;
    this.savedThrough = state.applied;
  }

  static async open(file: string, seeds: readonly StockSeed[], logger: Logger, onLockLost: (error: Error) => void): Promise<CatalogStore> {
    await mkdir(path.dirname(file), { recursive: true });
    const release = await lockFile(file, onLockLost);
    let checkpoint;
    try {
      checkpoint = await loadCheckpoint(file);
    } catch (error) {
      logger.warn(`catalog: ${file} cannot be used (${(error as Error).message}); rebuilding from the order log`);
    }
    const state = new CatalogState(seeds, randomUUID(), checkpoint);
    if (checkpoint !== undefined && state.applied === 0 && checkpoint.applied > 0) logger.warn(`catalog: ${file} was made with another stock list; rebuilding from the order log`);
    return new CatalogStore(state, file, logger, release);
  }

  /** The committed state of a stock, once every trade on it that may be acknowledged has settled. */
  async lookup(name: string): Promise<{ stock: Stock; version: number } | undefined> {
    this.mustBeReady();
    if (!this.state.has(name)) return undefined;
    const keys = this.state.reservedOn(name);
    if (keys.length > 0) {
      const left = new Set(keys);
      await this.until(() => {
        for (const key of left) if (!this.state.reservations.has(key)) left.delete(key);
        return left.size === 0;
      }, `a trade of ${name} is still being committed`);
    }
    return this.state.lookup(name);
  }

  list(): Stock[] {
    this.mustBeReady();
    return this.state.list();
  }

  versions(): Array<{ name: string; version: number }> {
    return this.state.versions();
  }

  /** Approves a trade (state.ts), holding it while the entries it needs first are applied. */
  async approve(request: ApproveRequest): Promise<Approval> {
    let approval = this.state.approve(request);
    if (approval.status === 'behind') {
      const needed = Math.max(request.since, request.startLength);
      await this.until(() => this.state.applied >= needed, `it has not applied the order log through order ${needed - 1} yet`).catch(() => undefined);
      approval = this.state.approve(request);
    }
    // A newer epoch may have ended older reservations that lookups wait on.
    this.wake();
    return approval;
  }

  apply(request: ApplyRequest): ApplyReply {
    const wasReady = this.state.ready;
    const before = this.state.applied;
    const resetsBefore = this.state.resets;
    const violationsBefore = this.state.violations;
    const reply = this.state.apply(request);
    if (this.state.resets > resetsBefore) this.logger.warn(`catalog: the checkpoint (through order ${before - 1}) does not belong to the order log the leader holds; rebuilding from it`);
    if (this.state.violations > violationsBefore) this.logger.error(`catalog: a committed order took a quantity below zero or named an unknown stock (${this.state.violations} so far); the stock list does not match the order log`);
    if (!wasReady) this.progress();
    this.wake();
    if (this.state.applied > this.savedThrough) this.scheduleCheckpoint();
    return reply;
  }

  private progress(): void {
    const { applied, committedKnown, ready } = this.state;
    if (ready) {
      const seconds = ((performance.now() - this.startedAt) / 1_000).toFixed(1);
      this.logger.info(`catalog: level with the order log at ${applied} committed orders (${seconds} s after start); serving`);
      return;
    }
    const now = performance.now();
    if (now - this.progressAt < CATALOG_PROGRESS_EVERY_MS) return;
    this.progressAt = now;
    this.logger.info(`catalog: rebuilding from the order log: ${applied} of ${committedKnown} committed orders applied`);
  }

  private mustBeReady(): void {
    if (!this.state.ready) {
      throw new BazaarError('CATALOG_REBUILDING', `the catalog is being brought level with the order log (${this.state.applied} of ${this.state.committedKnown} committed orders applied); retry shortly`);
    }
  }

  /** Resolves once `ready()` holds; 503 after CATALOG_CATCH_UP_WAIT_MS. */
  private until(ready: () => boolean, why: string): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = this.waiting.filter((waiting) => waiting !== entry);
        reject(new BazaarError('CATALOG_REBUILDING', `the catalog waited ${CATALOG_CATCH_UP_WAIT_MS} ms: ${why}; retry shortly`));
      }, CATALOG_CATCH_UP_WAIT_MS);
      const entry: Waiting = {
        ready,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiting.push(entry);
    });
  }

  private wake(): void {
    if (this.waiting.length === 0) return;
    const still: Waiting[] = [];
    for (const waiting of this.waiting) {
      if (waiting.ready()) waiting.resolve();
      else still.push(waiting);
    }
    this.waiting = still;
  }

  private scheduleCheckpoint(): void {
    if (this.checkpointTimer !== undefined || this.closed) return;
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = undefined;
      void this.checkpoint();
    }, CATALOG_CHECKPOINT_MS);
    this.checkpointTimer.unref();
  }

  /** Writes the state as it is now; failures are logged (the checkpoint only saves time). */
  checkpoint(): Promise<void> {
    const snapshot = this.state.checkpoint();
    if (snapshot.applied <= this.savedThrough) return this.saving;
    this.saving = this.saving
      .then(() => saveCheckpoint(this.file, snapshot))
      .then(
        () => {
          this.savedThrough = Math.max(this.savedThrough, snapshot.applied);
        },
        (error: unknown) => this.logger.warn(`catalog: could not write the checkpoint ${this.file} (${(error as Error).message}); it rebuilds from the order log further back after a restart`),
      );
    return this.saving;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.checkpointTimer);
    await this.checkpoint();
    await this.release();
  }
}
