// A clock a test moves, what a logger was given, and waiting for a condition.
import { Writable } from 'node:stream'

/** A clock a test moves by hand, for the plugin's now and the issuer's. */
export function testClock (startMs = Date.now()): { now: () => number, advance: (ms: number) => void } {
  let nowMs = startMs
  return { now: () => nowMs, advance: (ms) => { nowMs += ms } }
}

/** A log destination that keeps every line written to it. */
export function logLines (): { lines: string[], stream: Writable } {
  const lines: string[] = []
  return { lines, stream: new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } }) }
}

/** Waits until check() is true, polling; fails after ms. */
export async function waitFor (check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

export type Level = 'error' | 'warn' | 'info' | 'debug'
export interface LogEntry { level: Level, fields: Record<string, unknown>, msg: string }

/** A logger that keeps every call, and lets a test wait for the next one that matches. */
export function recordingLog () {
  const entries: LogEntry[] = []
  const waiting: Array<{ match: (entry: LogEntry) => boolean, resolve: (entry: LogEntry) => void }> = []
  const write = (level: Level) => (fields: object, msg: string): void => {
    const entry: LogEntry = { level, fields: fields as Record<string, unknown>, msg }
    entries.push(entry)
    for (const waiter of waiting.filter((w) => w.match(entry))) {
      waiting.splice(waiting.indexOf(waiter), 1)
      waiter.resolve(entry)
    }
  }
  return {
    entries,
    log: { error: write('error'), warn: write('warn'), info: write('info'), debug: write('debug') },
    /** The next entry logged from now on that matches. */
    next: async (match: (entry: LogEntry) => boolean): Promise<LogEntry> => await new Promise((resolve) => waiting.push({ match, resolve })),
    at: (level: Level) => entries.filter((entry) => entry.level === level)
  }
}
