// A logger that keeps what procguard logs, for assertions.
import type { Logger } from '../../lib/types';

export interface LoggedLine {
  level: 'info' | 'warn';
  message: string;
  fields?: Record<string, unknown>;
}

export function captureLogger(): { logger: Logger; lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  return {
    lines,
    logger: {
      info: (message, fields) => void lines.push({ level: 'info', message, fields }),
      warn: (message, fields) => void lines.push({ level: 'warn', message, fields }),
    },
  };
}

/** Removes every variable starting with one of `prefixes`; returns a function putting them back. */
export function isolateEnv(...prefixes: string[]): () => void {
  const saved: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && prefixes.some((prefix) => name.startsWith(prefix))) {
      saved[name] = value;
      delete process.env[name];
    }
  }
  return () => {
    for (const name of Object.keys(process.env)) {
      if (prefixes.some((prefix) => name.startsWith(prefix))) delete process.env[name];
    }
    Object.assign(process.env, saved);
  };
}
