// swift-tools-version:6.1
import PackageDescription

// libFuzzer targets: DNSFuzz for the wire codec, the answer path and the JSON reader; StoreFuzz for
// generated etcd values fed into the store and answered from:
//   swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   .build/debug/DNSFuzz Corpus -max_total_time=30
//   .build/debug/StoreFuzz StoreCorpus -max_total_time=30
// (scripts/fuzz does all three). Kept out of the main package: it only builds with the fuzzer runtime.
let package = Package(
    name: "swift-skydns-fuzz",
    dependencies: [
        .package(name: "swift-skydns", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "DNSFuzz",
            dependencies: [.product(name: "SkyDNSCore", package: "swift-skydns")]
        ),
        .executableTarget(
            name: "StoreFuzz",
            dependencies: [.product(name: "SkyDNSCore", package: "swift-skydns")]
        ),
    ]
)
