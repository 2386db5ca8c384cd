# The operator image: `docker build -t jobreset-operator:0.1.0 .`
# (Not built on the project's own machines, which have no container engine.)
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --profile dist --locked -p jobreset-operator --bin jobreset-operator

FROM debian:bookworm-slim
# CA roots for clusters whose certificates chain to a public CA (no tls.caSecret).
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/dist/jobreset-operator /usr/local/bin/jobreset-operator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/jobreset-operator"]
CMD ["run"]
