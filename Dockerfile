# syntax=docker/dockerfile:1
# akv-rotator production image: the binary built without the `emulator` feature (no emulator,
# no `demo`/`emulator` commands), on distroless (glibc + CA certificates, no shell), as uid 65532.
#
#   docker build -t akv-rotator:0.1.0 .
#   docker run --rm akv-rotator:0.1.0 --help

# ---- build ----------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
# aws-lc-sys (TLS crypto) compiles C code; cmake covers aws-lc-sys versions that still use it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The whole workspace (emulator/ is a member: Cargo needs its manifest even though the
# production build does not compile it). .dockerignore keeps target/, .git/ and .venv/ out.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile production --locked --no-default-features -p akv-rotator \
 && install -D -m 0555 target/production/akv-rotator /out/akv-rotator

# ---- runtime --------------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="akv-rotator" \
      org.opencontainers.image.description="Keeps client-credentials bearer tokens fresh in Azure Key Vault" \
      org.opencontainers.image.licenses="MIT"
COPY --from=builder /out/akv-rotator /akv-rotator
# The Azure SDK builds an error for an absent header on every request, which captures a
# backtrace whenever RUST_BACKTRACE=1 is set (2 % of the daemon's CPU, bench/README.md). The
# rotator prints no backtrace (its panic hook names only where a panic happened), so those
# captures are pure cost.
ENV RUST_LIB_BACKTRACE=0
# distroless "nonroot" user; the Helm chart enforces the same uid/gid.
USER 65532:65532
# No HEALTHCHECK: `once` is a batch job; the daemon (`run`) is probed by Kubernetes on
# /healthz and /readyz, and the image has no shell or HTTP client to probe itself.
# checkov:skip=CKV_DOCKER_2: batch job; the daemon is probed by Kubernetes; distroless has no probe tool
ENTRYPOINT ["/akv-rotator"]
CMD ["--help"]
