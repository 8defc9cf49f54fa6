/** The subset of pino's API the packages call; a pino logger satisfies it as it is. */
export interface LogFn {
  (obj: Record<string, unknown>, msg?: string): void
  (msg: string): void
}

export interface Logger {
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
  child?(bindings: Record<string, unknown>): Logger
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

const RANK: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 }

const noop: LogFn = () => {}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
}

export interface ConsoleLoggerOptions {
  level?: LogLevel
  /** Where lines go; default `process.stderr`. */
  write?: (line: string) => void
  bindings?: Record<string, unknown>
  /** Injectable time source for tests. */
  now?: () => number
}

function format(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value
  if (value instanceof Error) return JSON.stringify(value.message)
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)
}

/**
 * A small human-readable logger (`2026-01-02T13:49:05.439Z  INFO message key=value`), for when the
 * caller brings no pino. Default level `warn`: quiet except warnings.
 */
export function createConsoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const level = RANK[options.level ?? 'warn']
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`))
  const now = options.now ?? Date.now
  const bindings = options.bindings ?? {}
  const make =
    (name: Exclude<LogLevel, 'silent'>): LogFn =>
    (a: Record<string, unknown> | string, b?: string) => {
      if (RANK[name] < level) return
      const fields = typeof a === 'string' ? bindings : { ...bindings, ...a }
      const msg = typeof a === 'string' ? a : (b ?? '')
      const tail = Object.entries(fields)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${format(v)}`)
        .join(' ')
      write(
        `${new Date(now()).toISOString()} ${name.toUpperCase().padStart(5)} ${msg}${tail ? ` ${tail}` : ''}`,
      )
    }
  return {
    debug: make('debug'),
    info: make('info'),
    warn: make('warn'),
    error: make('error'),
    child: (extra) => createConsoleLogger({ ...options, bindings: { ...bindings, ...extra } }),
  }
}

/** `logger.child(bindings)` when the logger has it, else the logger itself. */
export function childLogger(logger: Logger, bindings: Record<string, unknown>): Logger {
  return logger.child ? logger.child(bindings) : logger
}
