# Build: docker build -t librarywire .
# Run:   docker run -p 8080:8080 -v librarywire-data:/var/lib/librarywire \
#          -e LIBRARYWIRE__AMQP__URL=amqp://guest:guest@rabbitmq:5672/%2f librarywire

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, in their own layer: it is rebuilt only when
# Cargo.toml, Cargo.lock or the benches change, not on every source edit.
# The manifest names the benches and the tests' kit (a dev-dependency and a
# workspace member), so cargo wants their files even though it does not
# build them here.
COPY Cargo.toml Cargo.lock ./
COPY benches benches
COPY testkit testkit
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src src
# Make sure cargo sees the real sources as newer than the placeholder build.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/librarywire librarywire \
    && mkdir -p /var/lib/librarywire /etc/librarywire \
    && chown librarywire /var/lib/librarywire
COPY --from=build /src/target/release/librarywire /usr/local/bin/librarywire
COPY config/default.toml /etc/librarywire/config.toml
ENV LIBRARYWIRE_CONFIG=/etc/librarywire/config.toml \
    LIBRARYWIRE__STORE__PATH=/var/lib/librarywire/librarywire.db \
    LIBRARYWIRE__SERVER__LISTEN=0.0.0.0:8080
VOLUME /var/lib/librarywire
USER librarywire
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
# Open files: the daemon raises its soft limit to the container's hard limit
# at start (Docker's default hard limit is high), and keeps its connection cap
# below it; `docker run --ulimit nofile=65536:65536` or compose's `ulimits:`
# set it explicitly.
ENTRYPOINT ["librarywire"]
CMD ["run"]
