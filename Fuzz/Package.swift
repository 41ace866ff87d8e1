// swift-tools-version:6.1
import PackageDescription

// libFuzzer target for the wire codec and the answer path:
//   swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   .build/debug/DNSFuzz Corpus -max_total_time=60
// (scripts/fuzz does both). Kept out of the main package: it only builds with the fuzzer runtime.
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
    ]
)
