# Two stages: build the release binary, then run it on a slim Debian.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY catalog ./catalog
RUN cargo build --release --locked --bin downwatch

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 downwatch
COPY --from=build /src/target/release/downwatch /usr/local/bin/downwatch
COPY catalog /usr/share/downwatch/catalog
USER downwatch
ENV DOWNWATCH_BIND=0.0.0.0:8080 DOWNWATCH_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["downwatch"]
CMD ["serve"]
