# syntax=docker/dockerfile:1
#
# xoauth2-proxy container image.
#
#   docker build -t xoauth2-proxy .            (or: podman build -t xoauth2-proxy .)
#
# Not built by this project's CI: its machine has no container engine and cannot pull images.
# scripts/check-deploy lints this file with hadolint; the build commands below are the ones the
# project's own release build uses (swift build -c release --static-swift-stdlib).

# ---- build ------------------------------------------------------------------------------------
# The official Swift image, pinned to the toolchain the project is developed and tested with
# (Swift 6.3.1 on Debian 12, the same Debian as the runtime stage below).
FROM swift:6.3.1-bookworm AS build
WORKDIR /src

# Dependencies first, so editing the sources does not fetch them again. Package.resolved is not
# committed; when a build context has one, its versions are used exactly.
COPY Package.* ./
RUN if [ -f Package.resolved ]; then swift package resolve --force-resolved-versions; else swift package resolve; fi

COPY . .
# --static-swift-stdlib links the Swift runtime and Foundation into the binary; what is left to
# load at run time is glibc, libstdc++, libgcc_s and zlib (readelf -d lists exactly these), and
# libsystemd.so.0, which the proxy dlopens when present (journald, sd_notify).
RUN swift build -c release --static-swift-stdlib --product xoauth2-proxy \
 && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/xoauth2-proxy" /out/xoauth2-proxy \
 && strip --strip-debug /out/xoauth2-proxy \
 && /out/xoauth2-proxy --help > /dev/null

# ---- runtime ----------------------------------------------------------------------------------
FROM debian:bookworm-slim

ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="xoauth2-proxy" \
      org.opencontainers.image.description="Local SMTP relay: apps log in with PLAIN/LOGIN on localhost, mail goes to Gmail / Microsoft 365 / any XOAUTH2 SMTP server with OAuth2 tokens" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

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
# Service must opt in with --host 0.0.0.0 (the Helm chart's standalone mode does).
# 9090: admin HTTP (/healthz, /readyz, /metrics, /accounts; no secrets). On 0.0.0.0 so the
# kubelet can probe it and Prometheus can scrape it.
EXPOSE 2525 9090

# /var/lib/xoauth2-proxy (owned by 65532) is where --state-dir keeps rotated refresh tokens;
# mount an emptyDir or a volume there and add --state-dir /var/lib/xoauth2-proxy.

ENTRYPOINT ["xoauth2-proxy"]
CMD ["serve", "--accounts-dir", "/etc/xoauth2-proxy/accounts", "--admin-host", "0.0.0.0"]
