# syntax=docker/dockerfile:1
# Portcullis: a multi-stage image on Node 24 slim, running as an unprivileged user (uid/gid 10001,
# the chart's securityContext) on a read-only root filesystem: only DATA_DIR (/data) and /tmp are
# written, both volumes. Pending migrations are applied at every start (src/main.ts), under an
# advisory lock, so several replicas may start at once; the chart also runs them in a Job first.

# Build: every dependency, the Prisma CLI included, to generate the client into src/generated/.
FROM node:24-slim AS build
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
RUN npm ci --no-audit --no-fund
COPY src ./src
RUN npx prisma generate

# Runtime dependencies only. `npm ci --omit=dev` alone would still install the Prisma CLI, Studio,
# pglite and TypeScript (optional peers of @prisma/client, so npm marks them devOptional, not dev:
# 433 MB of node_modules); without the devDependencies in package.json at all, npm leaves them out
# (172 MB measured). Versions come from the lock file; no install script runs (the client is
# generated above).
FROM node:24-slim AS deps
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
COPY package.json package-lock.json ./
RUN npm pkg delete devDependencies scripts.postinstall \
 && npm install --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-slim AS runtime
ENV NODE_ENV=production \
    PORT=4000 \
    DATA_DIR=/data
WORKDIR /app
# tini as PID 1: it forwards SIGTERM to node (its only child) and reaps zombies. npm is never in
# the way of a signal: the commands below run node directly.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 portcullis \
 && useradd --system --uid 10001 --gid portcullis --home-dir /app --shell /usr/sbin/nologin portcullis \
 && mkdir -p /data && chown portcullis:portcullis /data
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/src ./src
COPY --from=build /app/prisma ./prisma
# The admin bootstrap (`npm run admin -- create …`) and the Node version guard it runs first.
COPY scripts/admin.ts scripts/preflight.mjs ./scripts/
COPY package.json schema.graphql ./
USER 10001:10001
EXPOSE 4000
VOLUME ["/data", "/tmp"]
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node handles SIGTERM itself: it stops accepting, drains (5 s) and closes, exiting within 15 s.
# The job workers run in the same process unless RUN_WORKERS=false; the worker container runs
# `node src/worker.ts` (what `npm run worker` runs, without npm).
ENTRYPOINT ["/usr/bin/tini", "--"]
# Memory (README "Performance"): 2 MB semi-spaces instead of the young generation V8 sizes for
# the machine and never gives back, one V8 helper thread, heap growth tuned for size; blocks of
# 1 MB and more (argon2's 19 MB per hash) mapped and given back when freed, not kept by malloc.
ENV MALLOC_MMAP_THRESHOLD_=1048576
CMD ["node", "--max-semi-space-size=2", "--v8-pool-size=1", "--optimize-for-size", "src/main.ts"]
