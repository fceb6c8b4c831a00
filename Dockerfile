# syntax=docker/dockerfile:1
# Build: compile TypeScript with every dependency, then keep production dependencies only.
FROM node:20.20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# the clerk-auth workspace package is part of the lock file
COPY plugins/clerk-auth/package.json ./plugins/clerk-auth/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY plugins ./plugins
COPY routes ./routes
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --no-audit --no-fund

# Run: the compiled service as the unprivileged node user.
FROM node:20.20-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    METRICS_HOST=0.0.0.0 \
    # Node's fast heap state for this service (docs/performance.md, "Comparing two builds").
    NODE_OPTIONS=--max-semi-space-size=1
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
# Prometheus metrics, on their own port (not published unless asked for)
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains (SHUTDOWN_DRAIN_MS), then exits 0: the runtime's stop timeout must be longer.
STOPSIGNAL SIGTERM
# dist/src/tracing.js first: OpenTelemetry, when the OTEL_* variables turn it on (docs/tracing.md)
CMD ["node", "--import", "./dist/src/tracing.js", "dist/src/server.js"]
