# syntax=docker/dockerfile:1
#
# xoauth2-proxy container image.
#
#   docker build -t xoauth2-proxy --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#   (or: podman build ...)
#
# Not built by this project's CI: its machine has no container engine and cannot pull images.
# scripts/check-deploy lints this file with hadolint and starts the binary with CMD's arguments;
# the build commands below are the ones the project's own release build uses (swift build -c
# release --static-swift-stdlib).
#
# Base images. Each FROM names its tag and takes a digest from the ARGs below (tag@digest pulls
# by digest; the tag stays as documentation). Override them with --build-arg
# SWIFT_IMAGE_DIGEST=sha256:... / RUNTIME_IMAGE_DIGEST=sha256:..., the digests
# `docker buildx imagetools inspect swift:6.3.1-bookworm` (and `... debian:bookworm-slim`) print.
# - debian:bookworm-slim: the multi-platform index of the 2026-08-03 build, as the official
#   images' record (docker-library/repo-info, repos/debian/remote/bookworm-slim.md) lists it.
#   Bump it for Debian's security updates.
# - swift:6.3.1-bookworm: no digest committed yet (none could be read off an authoritative
#   record here); a release build passes it.
ARG SWIFT_IMAGE_DIGEST=""
ARG RUNTIME_IMAGE_DIGEST="sha256:abd67ffcfa541b485a3dff59865ab629aa048a6c613e639d36e7456b0b229241"

# ---- build ------------------------------------------------------------------------------------
# The official Swift image, pinned to the toolchain the project is developed and tested with
# (Swift 6.3.1 on Debian 12, the same Debian as the runtime stage below).
# swift:6.3.1-bookworm
FROM swift:6.3.1-bookworm${SWIFT_IMAGE_DIGEST:+@${SWIFT_IMAGE_DIGEST}} AS build
WORKDIR /src

# Dependencies first, so editing the sources does not fetch them again.
# Package.resolved is ignored by git on purpose (the development machines resolve packages from
# local mirrors whose commit ids are not upstream's), so a plain build resolves the newest
# versions Package.swift allows. A release build pins them: run `swift package resolve` once on
# a machine that reaches the package hosts, keep that Package.resolved with the release (an
# artifact or a release branch, next to the digests above) and put it in the build context;
# it is then used exactly (--force-resolved-versions fails instead of drifting).
COPY Package.* ./
RUN if [ -f Package.resolved ]; then swift package resolve --force-resolved-versions; else swift package resolve; fi

COPY . .
# VERSION must be the version the sources carry (Sources/Ops/BuildInfo.swift, the one place
# --version, /health and xoauth2_proxy_build_info read it from; scripts/check-deploy checks that
# this default, the chart's appVersion and image.tag and the kustomize image tag all equal it).
# REVISION is stamped into the binary in place of BuildInfo's @REVISION@ placeholder, and the
# build fails when `--version` does not say exactly "VERSION (commit REVISION)".
ARG VERSION=0.1.0
ARG REVISION=unknown
# --static-swift-stdlib links the Swift runtime and Foundation into the binary; what is left to
# load at run time is glibc, libstdc++, libgcc_s and zlib (readelf -d lists exactly these), and
# libsystemd.so.0, which the proxy dlopens when present (journald, sd_notify).
RUN case "${REVISION}" in ""|*[!0-9A-Za-z._-]*) echo "REVISION must be a commit id" >&2; exit 1;; esac \
 && sed -i "s/@REVISION@/${REVISION}/" Sources/Ops/BuildInfo.swift \
 && swift build -c release --static-swift-stdlib --product xoauth2-proxy \
 && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/xoauth2-proxy" /out/xoauth2-proxy \
 && strip --strip-debug /out/xoauth2-proxy \
 && /out/xoauth2-proxy --help > /dev/null \
 && test "$(/out/xoauth2-proxy --version)" = "${VERSION} (commit ${REVISION})"

# ---- runtime ----------------------------------------------------------------------------------
# debian:bookworm-slim
FROM debian:bookworm-slim${RUNTIME_IMAGE_DIGEST:+@${RUNTIME_IMAGE_DIGEST}}

# The same VERSION and REVISION as the build stage (the binary was checked against them).
# SOURCE: where the source lives (replace the placeholder when the repository is published).
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://example.com/xoauth2-proxy
ARG RUNTIME_IMAGE_DIGEST
LABEL org.opencontainers.image.title="xoauth2-proxy" \
      org.opencontainers.image.description="Local SMTP relay: apps log in with PLAIN/LOGIN on localhost, mail goes to Gmail / Microsoft 365 / any XOAUTH2 SMTP server with OAuth2 tokens" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim" \
      org.opencontainers.image.base.digest="${RUNTIME_IMAGE_DIGEST}"

# ca-certificates: the system roots every provider certificate is verified against.
# libsystemd0: journald logging and sd_notify when the image runs under systemd (optional).
# libstdc++6, libgcc-s1, zlib1g: already in the slim base; named so the dependency is on record.
# Versions are not pinned: bookworm's security updates replace them, and a pinned version that
# the archive no longer carries breaks the build.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libsystemd0 libstdc++6 libgcc-s1 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -m 0755 /etc/xoauth2-proxy/accounts \
 && install -d -m 0700 -o 65532 -g 65532 /var/lib/xoauth2-proxy

COPY --from=build /out/xoauth2-proxy /usr/local/bin/xoauth2-proxy

# A numeric non-root user (the "nonroot" id of distroless images), so Kubernetes can check
# runAsNonRoot without a passwd entry. Nothing at run time needs a shell: the entry point is the
# binary itself (exec form) and the probes are HTTP.
USER 65532:65532

# 2525: SMTP listener. It stays on 127.0.0.1 (the binary's default, not overridden below): in a
# pod every container shares the network namespace, so the app reaches the proxy on localhost,
# and nothing outside the pod can log in and send mail as the accounts. A shared relay behind a
# Service must opt in with --host :: (the Helm chart's standalone mode does).
# 9090: admin HTTP (/healthz, /readyz, /metrics, /accounts; no secrets). On :: (IPv6 and IPv4
# as v4-mapped addresses) so the kubelet can probe it and Prometheus can scrape it on IPv4,
# IPv6-only and dual-stack networks.
EXPOSE 2525 9090

# /var/lib/xoauth2-proxy (owned by 65532) is where --state-dir keeps rotated refresh tokens;
# mount an emptyDir or a volume there and add --state-dir /var/lib/xoauth2-proxy.

ENTRYPOINT ["xoauth2-proxy"]
CMD ["serve", "--accounts-dir", "/etc/xoauth2-proxy/accounts", "--admin-host", "::"]
