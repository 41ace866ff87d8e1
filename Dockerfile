# syntax=docker/dockerfile:1
# swift-skydns: a static, stripped /skydns on a slim Debian with libcurl.
#
# Build and push (BuildKit, the default builder since Docker 23, keeps the file capability
# across COPY --from):
#   scripts/pin-images                    # once per base-image update: pins the two ARGs below
#   docker build -t registry.example/swift-skydns:0.1.0 .
#   docker push registry.example/swift-skydns:0.1.0
# then set that name on the `image:` line of deploy/kubernetes/*.yaml.
#
# The base images, by digest so that a rebuild gets the same bytes (scripts/pin-images resolves
# each tag to its current digest and writes it here as name:tag@sha256:...).
ARG BUILD_IMAGE=swift:6.3-bookworm
ARG RUN_IMAGE=debian:bookworm-slim

# Build: the Swift runtime linked in statically; stripped; NET_BIND_SERVICE set here, so the
# runtime stage holds one copy of the binary (a RUN setcap there would store it again).
FROM ${BUILD_IMAGE} AS build
RUN apt-get update && apt-get install -y --no-install-recommends libcurl4-openssl-dev pkg-config libcap2-bin binutils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product skydns --static-swift-stdlib \
    && install -m 0755 "$(swift build -c release --show-bin-path)/skydns" /skydns \
    && strip --strip-all /skydns \
    && setcap cap_net_bind_service=+ep /skydns

# Run: libcurl and CA certificates; the binary is /skydns, as in SkyDNS's image.
FROM ${RUN_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends libcurl4 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /skydns /skydns
USER 65534:65534
EXPOSE 53/udp 53/tcp 9153/tcp
# Metrics and probes on 127.0.0.1:9153 unless -metrics-addr says otherwise (SkyDNS's variable).
ENV PROMETHEUS_PORT=9153
# Docker's own check (Kubernetes uses the manifests' probes): /healthz over bash's /dev/tcp, the
# image has no HTTP client. SKYDNS_HEALTH_ADDR names another ip:port when -metrics-addr moves it.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/bin/bash", "-c", "addr=${SKYDNS_HEALTH_ADDR:-127.0.0.1:9153}; exec 3<>/dev/tcp/${addr%:*}/${addr##*:} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && read -r -t 2 status <&3 && [[ $status == *' 200 '* ]]"]
ENTRYPOINT ["/skydns"]
