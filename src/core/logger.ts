// Plain line logs: one event a line, time first. `bazaar up` prefixes each child's lines with its role.

export type LogLevel = 'info' | 'warn' | 'error';
const LEVEL_RANK: Record<LogLevel | 'silent', number> = { info: 0, warn: 1, error: 2, silent: 3 };

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

function thresholdFromEnv(): number {
  const wanted = process.env.BAZAAR_LOG_LEVEL;
  if (wanted !== undefined && Object.hasOwn(LEVEL_RANK, wanted)) return LEVEL_RANK[wanted as LogLevel];
  return LEVEL_RANK.info;
}

export function createLogger(): Logger {
  const threshold = thresholdFromEnv();
  const write = (level: LogLevel, message: string): void => {
    if (LEVEL_RANK[level] < threshold) return;
    const line = `${new Date().toISOString()} ${level} ${message}\n`;
    (level === 'info' ? process.stdout : process.stderr).write(line);
  };
  return {
    info: (message) => write('info', message),
    warn: (message) => write('warn', message),
    error: (message) => write('error', message),
  };
}
