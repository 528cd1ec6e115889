# The SignalDB compactor's image: a release build of the `compactor` binary on a small Debian
# runtime, run as a non-root user, serving /metrics, /healthz and /readyz on 9091.
#
#   docker build -t signaldb/compactor .
#   docker run -v $PWD/signaldb.toml:/etc/signaldb/signaldb.toml:ro -p 9091:9091 signaldb/compactor
#
# The build uses exactly Cargo.lock (`--locked`); scripts/test.sh builds with `--locked` too,
# so a lockfile the image could not build from fails the test suite first.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p compactor --bin compactor

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 signaldb \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin signaldb
COPY --from=build /src/target/release/compactor /usr/local/bin/compactor
ENV SIGNALDB_CONFIG=/etc/signaldb/signaldb.toml
USER 10001:10001
EXPOSE 9091
ENTRYPOINT ["compactor"]
CMD ["run"]
