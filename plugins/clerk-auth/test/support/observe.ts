// A clock a test moves, the lines a logger wrote, and waiting for a condition.
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
