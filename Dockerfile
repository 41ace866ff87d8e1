# Build: the Swift toolchain image, a release binary with the Swift runtime linked in statically.
FROM swift:6.3-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libcurl4-openssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product skydns --static-swift-stdlib \
    && cp "$(swift build -c release --show-bin-path)/skydns" /skydns

# Run: a slim image with libcurl and CA certificates; the binary is /skydns, as in SkyDNS's image.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libcurl4 ca-certificates libcap2-bin \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /skydns /skydns
# Port 53 without root.
RUN setcap cap_net_bind_service=+ep /skydns
USER 65534:65534
EXPOSE 53/udp 53/tcp
ENTRYPOINT ["/skydns"]
