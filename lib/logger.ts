// Where procguard's own lines go: the configured logger, by default the agent's stderr.
// Never a child's output: lines are written by the agent, not by a child before exec.
import type { Logger } from './types';

/** One field value as `key=value` text: bare when unambiguous, JSON-quoted otherwise. */
function formatValue(value: unknown): string {
  if (value === undefined) return '<unset>';
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === null) {
    return String(value);
  }
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value); // circular: still one line
  }
}

/** `procguard: <message> key=value ...`, one line. */
export function formatLine(message: string, fields?: Record<string, unknown>): string {
  let line = `procguard: ${message}`;
  if (fields) {
    for (const [key, value] of Object.entries(fields)) line += ` ${key}=${formatValue(value)}`;
  }
  // A message must never break the one-line-per-message promise.
  return line.replace(/\r?\n/g, '\\n');
}

function writeLine(message: string, fields?: Record<string, unknown>): void {
  process.stderr.write(`${formatLine(message, fields)}\n`);
}

/** Writes one line per message to the agent's stderr. */
export const defaultLogger: Logger = {
  info: writeLine,
  warn: writeLine,
};

let active: Logger = defaultLogger;

/** The configured logger. */
export function logger(): Logger {
  return active;
}

/** Used by configure(); validation happens there. */
export function setLogger(next: Logger): void {
  active = next;
}

/**
 * Information (what procguard did or found): never something the user must act on.
 * Every such message of procguard goes through here.
 */
export function info(message: string, fields?: Record<string, unknown>): void {
  active.info(message, fields);
}

/**
 * A problem the user must know about, with a stable `code` per cause (PROCGUARD_*), so that
 * it can be told apart, filtered and counted. Every such message of procguard goes through here.
 */
export function warning(code: string, message: string, fields?: Record<string, unknown>): void {
  active.warn(message, fields);
}
