// swift-tools-version:6.1
import PackageDescription

// Modules, each depending only on the ones listed before it:
//   DNSWire       the DNS wire codec (RFC 1035, EDNS0); no I/O
//   StrictJSON    a strict JSON pull reader and writer (RFC 8259), Go's error wording; no I/O
//   SkyDNSConfig  SkyDNS's flags, environment variables and defaults
//   SkyDNSStore   SkyDNS record values, the name trie, snapshots and answer building
//   BoundedCollections  a map bounded by count and cost that drops its oldest entries (the caches')
//   DNSSEC        online signing (RFC 4034/4035): BIND key files, RRSIGs, compact denial, signature cache
//   EtcdClient    etcd v2/v3 over libcurl: full read, watch, failover; emits the store's changes
//   SkyDNSServer  UDP/TCP sockets, the query loop, wiring etcd into the store, metrics
//   SkyDNSOperator  the metrics and health-probe HTTP endpoint (one poll thread, bounded)
//   skydns        the executable
let package = Package(
    name: "swift-skydns",
    products: [
        .executable(name: "skydns", targets: ["skydns"]),
        // The codecs and the store, for the benchmark package in Benchmarks/ and the fuzzer in Fuzz/.
        .library(name: "SkyDNSCore", targets: ["DNSWire", "StrictJSON", "SkyDNSStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-extras/swift-extras-base64", from: "1.2.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        .target(name: "DNSWire"),
        .target(name: "StrictJSON"),
        .target(name: "SkyDNSConfig", dependencies: ["DNSWire", "StrictJSON"]),
        .target(
            name: "SkyDNSStore",
            dependencies: [
                "DNSWire", "StrictJSON",
                .product(name: "HashTreeCollections", package: "swift-collections"),
            ]
        ),
        .target(
            name: "BoundedCollections",
            dependencies: [.product(name: "DequeModule", package: "swift-collections")]
        ),
        .target(
            name: "DNSSEC",
            dependencies: [
                "DNSWire", "BoundedCollections",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
            ]
        ),
        .systemLibrary(
            name: "CLibCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(name: "CSystemShim"),
        .target(
            name: "EtcdClient",
            dependencies: [
                "CLibCurl", "StrictJSON", "SkyDNSStore",
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "SkyDNSServer",
            dependencies: [
                "DNSWire", "SkyDNSConfig", "SkyDNSStore", "BoundedCollections", "DNSSEC", "EtcdClient", "CSystemShim",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The operator's HTTP endpoint (metrics, probes): a bounded HTTP/1.1 reader on one thread.
        .target(
            name: "SkyDNSOperator",
            dependencies: [
                "SkyDNSServer", "EtcdClient", "CSystemShim",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "skydns",
            dependencies: [
                "SkyDNSServer", "SkyDNSOperator", "SkyDNSConfig",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What several test targets share: a real etcd, loopback DNS/HTTP clients, the record-semantics table.
        .target(name: "SkyDNSTestSupport", dependencies: ["DNSWire", "StrictJSON"], path: "Tests/SkyDNSTestSupport"),
        .testTarget(name: "DNSWireTests", dependencies: ["DNSWire"]),
        .testTarget(name: "StrictJSONTests", dependencies: ["StrictJSON"]),
        .testTarget(name: "BoundedCollectionsTests", dependencies: ["BoundedCollections"]),
        .testTarget(name: "DNSSECTests", dependencies: ["DNSSEC", "DNSWire"]),
        .testTarget(name: "SkyDNSConfigTests", dependencies: ["SkyDNSConfig"]),
        .testTarget(name: "SkyDNSStoreTests", dependencies: ["SkyDNSStore", "DNSWire", "SkyDNSTestSupport"]),
        .testTarget(name: "EtcdClientTests", dependencies: ["EtcdClient", "SkyDNSStore", "StrictJSON", "SkyDNSTestSupport"]),
        .testTarget(name: "SkyDNSServerTests", dependencies: ["SkyDNSServer", "DNSWire", "SkyDNSTestSupport"]),
        .testTarget(name: "SkyDNSOperatorTests", dependencies: ["SkyDNSOperator"]),
    ]
)
