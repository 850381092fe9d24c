# One image for the API and the worker; docker-compose.yml picks the command.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY flows ./flows
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY worker ./worker
COPY db ./db
COPY runtime ./runtime
COPY scripts ./scripts
USER node
EXPOSE 3000
CMD ["npm", "run", "api"]
