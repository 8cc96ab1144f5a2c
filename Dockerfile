# syntax=docker/dockerfile:1
# Portcullis: a multi-stage image on Node 24 slim, running as an unprivileged user. Pending
# migrations are applied at every start (src/main.ts), under an advisory lock, so several replicas
# may start at once.

FROM node:24-slim AS build
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
# Production dependencies only; `postinstall` generates the Prisma client into src/generated/.
RUN npm ci --omit=dev --no-audit --no-fund
COPY src ./src
RUN npx prisma generate

FROM node:24-slim AS runtime
ENV NODE_ENV=production \
    PORT=4000 \
    DATA_DIR=/data
WORKDIR /app
RUN groupadd --system --gid 10001 portcullis \
 && useradd --system --uid 10001 --gid portcullis --home-dir /app --shell /usr/sbin/nologin portcullis \
 && mkdir -p /data && chown portcullis:portcullis /data
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/src ./src
COPY --from=build /app/prisma ./prisma
# The admin bootstrap (`npm run admin -- create …`) and the Node version guard it runs first.
COPY scripts/admin.ts scripts/preflight.mjs ./scripts/
COPY package.json prisma.config.ts schema.graphql ./
USER portcullis
EXPOSE 4000
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node is PID 1 and handles SIGTERM itself: it stops accepting, drains and closes. The job
# workers run in the same process; `npm run worker` (with RUN_WORKERS=false on the API replicas)
# runs them in a container of their own.
CMD ["node", "src/main.ts"]
