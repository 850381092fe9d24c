# One image for the API, the worker and the migrations; docker-compose.yml picks the command.
# Node 24: the Active LTS line (Node 20 left support in April 2026); its npm 11 honours
# package.json's allowScripts, as on our development machines.
ARG NODE_IMAGE=node:24-bookworm-slim

# Build stage: the full dependency tree (TypeScript tooling, the workflow bundler) and
# `npm run build`, which writes the runtime file set (compiled code, migrations, the pre-built
# workflow bundle). test/production-build.test.ts builds and runs the same set without Docker.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build -- --out /runtime/dist && cp package.json package-lock.json /runtime/

# Runtime stage: production dependencies only (no tsx, @temporalio/testing or embedded-postgres)
# and the compiled files, run with plain node as an unprivileged user.
FROM ${NODE_IMAGE}
# HOST: the API listens on the container's network (the default, 127.0.0.1, is for `npm start`).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PARCOURS_DATA_DIR=/tmp/parcours
WORKDIR /app
COPY --from=build /runtime/package.json /runtime/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /runtime/dist ./dist
USER node
EXPOSE 3000
CMD ["node", "--enable-source-maps", "dist/api/server.js"]
