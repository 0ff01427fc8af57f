# syntax=docker/dockerfile:1
# One image for every node of the cluster: SERVICES=<node name> (see lib/topology.ts)
# chooses what a container runs; unset runs everything in one process.
#
#   docker build -t eislager/backend .
#   docker run -e SERVICES=sales -e TRANSPORTER=nats://nats:4222 ... eislager/backend

# ---- build: dev dependencies + TypeScript compile -----------------------------
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# ---- runtime: production dependencies + compiled JavaScript only ---------------
FROM node:20-slim AS runtime
ENV NODE_ENV=production \
    FILES_DIR=/data/files
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force \
 && mkdir -p /data/files \
 && chown node:node /data/files
COPY --from=build /app/dist ./dist

# The official image's unprivileged user (uid 1000); /data/files is the only writable
# place the app needs (mount a volume there for the communications/files nodes).
USER node

# Every node serves /health on its operator port METRICS_PORT (gateway 3009; one process: 3009 too).
# node:20-slim has no curl, so Node's own fetch does the check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "const p=process.env.METRICS_PORT||3009;fetch('http://127.0.0.1:'+p+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"

# Ports: 3000 the gateway's public API; 3001-3009 the operator port (/health, /ready, /metrics) of each node.
EXPOSE 3000
STOPSIGNAL SIGTERM
CMD ["node", "dist/bin/start.js"]
