// swift-tools-version:6.0
// libFuzzer targets for the parsers that read what peers and operators send. Built and run by
// scripts/fuzz (see the README's Fuzzing section); a package of its own so that the fuzz build,
// with its sanitizer flags, lives in Fuzz/.build and compiles only the modules fuzzed.
import PackageDescription

/// One executable per libFuzzer target: `LLVMFuzzerTestOneInput` is its entry point, and
/// `-sanitize=fuzzer` links libFuzzer's `main`.
func fuzzTarget(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: ["FuzzSupport"] + dependencies)
}

let package = Package(
    name: "xoauth2-proxy-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "xoauth2-proxy", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Input splitting and property checks shared by the targets; no dependencies.
        .target(name: "FuzzSupport"),
        // Reference models and frame helpers for the SMTP targets.
        .target(name: "SMTPFuzzSupport", dependencies: [
            "FuzzSupport",
            .product(name: "SMTPCore", package: "xoauth2-proxy"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        fuzzTarget("FuzzCommandParser", [.product(name: "SMTPCore", package: "xoauth2-proxy")]),
        fuzzTarget("FuzzServerFramer", [
            "SMTPFuzzSupport",
            .product(name: "SMTPCore", package: "xoauth2-proxy"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        fuzzTarget("FuzzDataScanner", [
            "SMTPFuzzSupport",
            .product(name: "SMTPCore", package: "xoauth2-proxy"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        fuzzTarget("FuzzReplyParser", [.product(name: "SMTPCore", package: "xoauth2-proxy")]),
        fuzzTarget("FuzzSASL", [.product(name: "SMTPCore", package: "xoauth2-proxy")]),
        fuzzTarget("FuzzAccountsJSON", [.product(name: "Accounts", package: "xoauth2-proxy")]),
        fuzzTarget("FuzzAdminHTTP", [
            .product(name: "Ops", package: "xoauth2-proxy"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
    ]
)
