import type { FastifyBaseLogger } from 'fastify'

type Bindings = Parameters<FastifyBaseLogger['child']>[0]
type ChildLoggerOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>
// The service logger is pino, which also says whether a level is enabled.
type Logger = FastifyBaseLogger & { isLevelEnabled: (level: string) => boolean }

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'

/**
 * A request's logger that becomes a real child of the service logger (with the request id) only
 * when a line is written at an enabled level. With per-request lines off, most requests never log,
 * and building a pino child for each of them was a visible share of a request answered from the cache.
 */
class LazyRequestLogger {
  #child: FastifyBaseLogger | undefined
  readonly #parent: Logger
  readonly #bindings: Bindings

  constructor (parent: Logger, bindings: Bindings) {
    this.#parent = parent
    this.#bindings = bindings
  }

  #real (): FastifyBaseLogger {
    this.#child ??= this.#parent.child(this.#bindings)
    return this.#child
  }

  #write (level: Level, args: unknown[]): void {
    if ((this.#child as Logger | undefined ?? this.#parent).isLevelEnabled(level)) (this.#real()[level] as (...args: unknown[]) => void)(...args)
  }

  get level (): string {
    return this.#child?.level ?? this.#parent.level
  }

  set level (level: string) {
    this.#real().level = level
  }

  // Methods on the prototype: a request's logger allocates no closures.
  fatal (...args: unknown[]): void { this.#write('fatal', args) }
  error (...args: unknown[]): void { this.#write('error', args) }
  warn (...args: unknown[]): void { this.#write('warn', args) }
  info (...args: unknown[]): void { this.#write('info', args) }
  debug (...args: unknown[]): void { this.#write('debug', args) }
  trace (...args: unknown[]): void { this.#write('trace', args) }
  silent (): void {}

  child (bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#real().child(bindings, options)
  }
}

/**
 * Fastify's childLoggerFactory: lazy children for ordinary routes; a route with its own log level
 * or serializers gets a real child at once.
 */
export function requestLoggerFactory (logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  if (options.level !== undefined || options.serializers !== undefined) return logger.child(bindings, options)
  return new LazyRequestLogger(logger as Logger, bindings) as unknown as FastifyBaseLogger
}
