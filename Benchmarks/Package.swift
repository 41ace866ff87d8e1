// swift-tools-version:6.1
import PackageDescription

// Microbenchmarks of the query path (package-benchmark): `swift package benchmark` here.
// Kept out of the main package so that building the server does not build the harness.
let package = Package(
    name: "swift-skydns-benchmarks",
    dependencies: [
        .package(name: "swift-skydns", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "SkyDNSBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SkyDNSCore", package: "swift-skydns"),
            ],
            path: "Benchmarks/SkyDNSBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
