import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import serviceApp, { serverOptions } from './app.js'

// LOG_LEVEL is applied by the app once the settings are validated.
const app = Fastify(serverOptions({ level: 'info' }))
app.register(fp(serviceApp))

function exitWith (message: string): never {
  process.stderr.write(`${message}\n`)
  process.exit(1)
}

try {
  await app.ready()
} catch (err) {
  // A bad setting is the operator's to fix: one line that names it, no stack trace.
  if ((err as Error).name === 'ConfigError') exitWith((err as Error).message)
  app.log.fatal({ err }, 'start-up failed')
  process.exit(1)
}

closeWithGrace({ delay: 10_000 }, async ({ err, signal }) => {
  if (err !== undefined) app.log.error({ err }, 'closing after an unexpected error')
  else app.log.info({ signal }, 'closing')
  await app.close()
})

try {
  await app.listen({ host: app.config.HOST, port: app.config.PORT })
} catch (err) {
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    await app.close()
    exitWith(`Cannot listen: port ${app.config.PORT} on ${app.config.HOST} is already in use (set PORT to another one).`)
  }
  throw err
}
