# sealpost service image. Runs the TypeScript sources through tsx (a runtime dependency), as
# `npm start` does, so the image and a clone behave alike. Build: docker build -t sealpost .

# --- dependencies: compiled here because better-sqlite3-multiple-ciphers is a native addon
# (prebuilt binaries are used when available; python3/make/g++ build it from source otherwise).
FROM node:20-bookworm-slim AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# --- runtime: same base (same glibc and Node ABI as the addon was built for), no compilers.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    SEALPOST_DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
# Archives, key directory and server key live on the data volume, owned by the unprivileged
# `node` user (uid 1000) that the service runs as.
RUN mkdir -p /data && chown node:node /data && chmod 700 /data
USER node
VOLUME ["/data"]
# Operations endpoint (health, metrics): SEALPOST_HTTP_PORT.
EXPOSE 9187
CMD ["node", "--import", "tsx", "src/main.ts"]
