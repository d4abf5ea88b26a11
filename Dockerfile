# syntax=docker/dockerfile:1
#
# nginxlog-sidecar container image.
#
#   docker build -t nginxlog-sidecar .
#   docker run --rm -p 9680:9680 -v nginx-logs:/var/log/nginx:ro \
#     -e NGINXLOG_ACCESS_LOG=/var/log/nginx/nginxlog-access.log \
#     -e NGINXLOG_ERROR_LOG=/var/log/nginx/nginxlog-error.log nginxlog-sidecar
#
# Builder: the same `cargo build --release --locked` (release profile, default features, the
# host's glibc target) that CI runs, on Debian 12. Final image: distroless/cc (glibc, libgcc,
# CA certificates, no shell, no package manager) on the same Debian 12, as its `nonroot` user.
# docs/deployment.md says which parts of this file were verified and how.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS builder
# The git revision for nginxlog_build_info{revision} (.git is not in the build context):
#   docker build --build-arg GIT_REVISION=$(git rev-parse --short=12 HEAD) .
# Without it the label says `unknown`.
ARG GIT_REVISION=
WORKDIR /src
COPY . .
# Cache mounts keep the crate registry and the target directory between builds (BuildKit).
# The binary is copied out of the cached target directory; its debug info is stripped (the
# release profile keeps line tables for backtraces, which a container image does not need).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && mkdir -p /out/state \
    && cp target/release/nginxlog-sidecar /out/nginxlog-sidecar \
    && strip --strip-debug /out/nginxlog-sidecar \
    && /out/nginxlog-sidecar --version

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/nginxlog-sidecar /nginxlog-sidecar
# Home of the state file (read positions, so a restarted sidecar neither loses nor double-counts
# lines). Owned by the nonroot user so a volume mounted here inherits a writable directory.
COPY --from=builder --chown=65532:65532 /out/state /var/lib/nginxlog-sidecar

# distroless' nonroot user, numeric so that Kubernetes' runAsNonRoot can check it.
USER 65532:65532

# Every flag has an NGINXLOG_* variable (`nginxlog-sidecar run --help` lists them). Set at
# least NGINXLOG_ACCESS_LOG (and NGINXLOG_ERROR_LOG); these are the defaults of the image:
ENV NGINXLOG_LISTEN=0.0.0.0:9680 \
    NGINXLOG_FORMAT=ws_timing \
    NGINXLOG_STATE_FILE=/var/lib/nginxlog-sidecar/state.json \
    NGINXLOG_LOG_STYLE=json

EXPOSE 9680

# No curl in this image: the binary checks itself, on /healthz at NGINXLOG_LISTEN's port
# (NGINXLOG_HEALTHCHECK_URL overrides the URL). With NGINXLOG_WEB_CONFIG_FILE setting up TLS it
# checks over https; give NGINXLOG_HEALTHCHECK_CA_FILE (or NGINXLOG_HEALTHCHECK_INSECURE=true)
# and, with basic auth, NGINXLOG_HEALTHCHECK_USERNAME and NGINXLOG_HEALTHCHECK_PASSWORD.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/nginxlog-sidecar","healthcheck"]

ENTRYPOINT ["/nginxlog-sidecar"]
CMD ["run"]
