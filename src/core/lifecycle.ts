// What every running role looks like to whoever started it, and the one place signals are handled.
import type { Logger } from './logger.ts';

export interface Handle {
  /** Stops the role gracefully: stop accepting, drain, flush, release locks. Idempotent. */
  close(): Promise<void>;
  /** Settles if the role hits an error it cannot go on from (its lock was taken, its disk failed). */
  readonly fatal: Promise<Error>;
  /** Stops at once, without draining; for a second Ctrl-C. */
  kill?(): void;
}

/** Set by `bazaar up` on its children: they stop when its end of their stdin pipe closes. */
export const SUPERVISED_ENV = 'BAZAAR_SUPERVISED';

/** Wraps a close function so that every call after the first returns the first call's promise. */
export function idempotent(close: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= close();
    return closing;
  };
}

/** A promise that settles with an Error when `fail` is first called, plus that function. */
export function fatalSignal(): { fatal: Promise<Error>; fail: (error: Error) => void } {
  let fail!: (error: Error) => void;
  const fatal = new Promise<Error>((resolve) => {
    let failed = false;
    fail = (error) => {
      if (failed) return;
      failed = true;
      resolve(error);
    };
  });
  return { fatal, fail };
}

/**
 * Runs a role in this process until SIGINT or SIGTERM: the first signal closes it gracefully, a second
 * forces the exit. A fatal error of the role exits with status 1, so a supervisor can restart it.
 */
export async function runUntilSignal(name: string, handle: Handle, logger: Logger): Promise<void> {
  let signals = 0;
  const stop = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn(`${name}: second ${signal}, exiting now`);
      handle.kill?.();
      process.exit(130);
    }
    logger.info(`${name}: ${signal} received, stopping`);
    handle.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error(`${name}: error while stopping: ${String(error)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  if (process.env[SUPERVISED_ENV] === '1') {
    // The supervisor holds the other end of stdin and never writes to it: end of file means it
    // died, even by kill -9, and a role must not live on unsupervised.
    process.stdin.on('end', () => stop('SIGTERM'));
    process.stdin.resume();
  }
  const error = await handle.fatal;
  logger.error(`${name}: fatal: ${error.message}`);
  await handle.close().catch(() => undefined);
  process.exit(1);
}
