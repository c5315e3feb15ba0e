# Switchboard's container image: the server built from this repository (`node dist`), Node 20, non-root, with a
# HEALTHCHECK. Build and run (docker or podman; see docs/operations.md, "Container image"):
#   docker build -t switchboard:0.1.0 .
#   docker run --rm -p 8080:8080 -e SWITCHBOARD_JWT_SECRET=... -e SWITCHBOARD_API_KEY=... switchboard:0.1.0
# NODE_IMAGE: any Debian-based image with Node >= 20 on PATH. Without registry access,
# deploy/container/make-base-image.sh makes one from Debian packages (that is how this file is tested:
# deploy/container/check.sh).
ARG NODE_IMAGE=docker.io/library/node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# NPM_FLAGS=--offline installs from an npm cache mounted at /root/.npm (build with -v ~/.npm:/root/.npm).
# --ignore-scripts: nothing to build yet (the sources come next); no dependency needs an install script.
ARG NPM_FLAGS=
RUN npm ci --ignore-scripts --no-audit --no-fund ${NPM_FLAGS}
COPY . .
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund ${NPM_FLAGS}

FROM ${NODE_IMAGE}
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY deploy/container/healthcheck.mjs ./healthcheck.mjs
# Beyond loopback the server refuses to start without SWITCHBOARD_JWT_SECRET and SWITCHBOARD_API_KEY (or
# --insecure for a trial): see docs/security.md.
ENV NODE_ENV=production SWITCHBOARD_HOST=0.0.0.0 SWITCHBOARD_PORT=8080
# UID 1000 as in deploy/kubernetes (the `node` user of the official images); the files stay root-owned, read-only.
USER 1000:1000
EXPOSE 8080
# Liveness of the process's own port (https when SWITCHBOARD_TLS_CERT is set). Readiness is /readyz, for the
# orchestrator (deploy/kubernetes). HEALTHCHECK needs the docker image format (podman build --format docker).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["node", "/app/healthcheck.mjs"]
# SIGTERM drains (connections told to reconnect elsewhere) within shutdown.timeout, then exits 0.
STOPSIGNAL SIGTERM
CMD ["node", "dist/cli/main.js", "serve"]
