# Build: docker build -t crmflow .
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# Build settings of the bundled SQLite (query planner stability, in-memory savepoint journals,
# no global page-cache and memory-statistics mutexes).
COPY .cargo ./.cargo
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked --bin crmflow

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home-dir /var/lib/crmflow --create-home crmflow
COPY --from=build /src/target/release/crmflow /usr/local/bin/crmflow
USER crmflow
WORKDIR /var/lib/crmflow
ENV CRMFLOW_BIND=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["crmflow"]
CMD ["serve"]
