# syntax=docker/dockerfile:1
# The operator's image: Node 24 runs the TypeScript sources directly (type stripping, no build step), with
# production dependencies only, as a non-root user, on a read-only root filesystem.
# CI has no Docker engine: test/e2e/shipping/image-recipe.e2e.test.ts replays this file's COPY and RUN steps in
# a temp folder and starts the result, so keep every RUN a plain command that works from the WORKDIR.

# ---- deps: production dependencies from the lockfile, exactly (npm ci), without dev tools or the npm cache.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: no production dependency has one, and none may run unreviewed at build time.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime: the sources (tests and test data are left out by .dockerignore) and the dependencies.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
# The base image's `node` user, by number so that runAsNonRoot can verify it without reading /etc/passwd.
USER 1000:1000
# The operator writes nothing to disk: the root filesystem can be read-only (the chart mounts an emptyDir on
# /tmp only for Node's own diagnostics).
# SIGTERM starts the graceful shutdown: stop taking work, let in-flight reconciles finish (bounded), stop the
# watches, release the leader Lease.
STOPSIGNAL SIGTERM
# src/main.ts gives Node the operator's V8 heap flags itself (src/operator/process-setup.ts; README, "Memory"),
# so they need not be repeated here, in the chart or in deploy/.
ENTRYPOINT ["node", "src/main.ts"]
