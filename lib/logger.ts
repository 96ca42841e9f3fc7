// Where procguard's own messages go. A library inside someone's agent says nothing on stderr
// unless the user must act, following Node's conventions:
// - information: util.debuglog('procguard') (shown with NODE_DEBUG=procguard), and the
//   configured logger's info();
// - a problem the user must know about: process.emitWarning() with a stable code, once per
//   cause and value (so --no-warnings, NODE_NO_WARNINGS and process.on('warning') work), and
//   the configured logger's warn().
// Never a child's output: messages are the agent's, not a child's before exec.
import { debuglog } from 'node:util';
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

/** `<message> key=value ...`, one line. */
export function formatMessage(message: string, fields?: Record<string, unknown>): string {
  let line = message;
  if (fields) {
    for (const [key, value] of Object.entries(fields)) line += ` ${key}=${formatValue(value)}`;
  }
  // A message must never break the one-line-per-message promise.
  return line.replace(/\r?\n/g, '\\n');
}

/** `procguard: <message> key=value ...`, one line. */
export function formatLine(message: string, fields?: Record<string, unknown>): string {
  return `procguard: ${formatMessage(message, fields)}`;
}

/** No logger configured: nothing beyond debuglog and emitWarning. */
export const defaultLogger: Logger = Object.freeze({
  info() {},
  warn() {},
});

let active: Logger = defaultLogger;

/** The configured logger. */
export function logger(): Logger {
  return active;
}

/** Used by configure(); validation happens there. */
export function setLogger(next: Logger): void {
  active = next;
}

// Resolved lazily and by Node itself, so NODE_DEBUG=procguard works as for any module.
let debug: ((text: string) => void) | undefined;
function debugLine(text: string): void {
  debug ??= debuglog('procguard');
  debug(text);
}

/**
 * Information (what procguard did or found): never something the user must act on.
 * Every such message of procguard goes through here.
 */
export function info(message: string, fields?: Record<string, unknown>): void {
  debugLine(formatMessage(message, fields));
  active.info(message, fields);
}

/** `code message fields` already warned about: once per cause and value, not once per spawn. */
const warned = new Set<string>();

/**
 * A problem the user must know about, with a stable `code` per cause (PROCGUARD_*), so that
 * it can be told apart, filtered and counted. Every such message of procguard goes through
 * here. The same code, message and fields warn once per process.
 */
export function warning(code: string, message: string, fields?: Record<string, unknown>): void {
  const text = formatMessage(message, fields);
  debugLine(`[${code}] ${text}`);
  const key = `${code} ${text}`;
  if (warned.has(key)) return;
  warned.add(key);
  process.emitWarning(`procguard: ${text}`, { code });
  active.warn(message, fields, code);
}
