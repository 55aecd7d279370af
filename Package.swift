// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "xoauth2-proxy",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "xoauth2-proxy", targets: ["XOAuth2ProxyCLI"]),
        // For the fuzz targets in Fuzz/, which build only the modules they exercise.
        .library(name: "SMTPCore", targets: ["SMTPCore"]),
        .library(name: "Accounts", targets: ["Accounts"]),
        .library(name: "Ops", targets: ["Ops"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // Pure SMTP values and state machines: no sockets, no TLS.
        .target(name: "SMTPCore", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // Listen addresses as operators write them (IPv6, brackets, names) and dual-stack binding.
        .target(name: "Sockets", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // Channel handlers and connections: framing, codecs, STARTTLS, the upstream client.
        .target(name: "SMTPNIO", dependencies: [
            "SMTPCore", "Sockets",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Accounts", dependencies: []),
        // Files under --state-dir: rotated refresh tokens and daily counters, written atomically.
        .target(name: "StateStore", dependencies: []),
        // Pure limiters: rolling quotas, circuit breakers, backoff, concurrency; injected clock.
        .target(name: "Resilience", dependencies: [
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        // State shared by every replica of a fleet on PostgreSQL (--state-url): quota leases, and
        // access and rotated refresh tokens encrypted under the state key (OAuth2's SharedTokenStore).
        .target(name: "FleetState", dependencies: [
            "OAuth2",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // A seedable random generator, so that the sandbox's fault injection and randomized
        // tests replay from a seed.
        .target(name: "SeededRandom", dependencies: []),
        .target(name: "OAuth2", dependencies: [
            "Resilience",
            // JWT assertions (PS256, RS256) and certificate thumbprints for the app-only grants.
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Relay", dependencies: [
            "SMTPCore", "SMTPNIO", "Sockets", "Accounts", "OAuth2", "Resilience", "StateStore", "Ops", "FleetState",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // libsystemd's journald and sd_notify entry points, resolved with dlopen at run time so
        // the binary builds and runs where libsystemd is absent.
        .systemLibrary(name: "CSystemd", path: "Sources/CSystemd"),
        .target(name: "Ops", dependencies: [
            "CSystemd", "Sockets",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The local fake provider: XOAUTH2-checking SMTP server plus token endpoint.
        .target(name: "Sandbox", dependencies: [
            "SMTPCore", "SMTPNIO", "SeededRandom",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The load generator behind `xoauth2-proxy bench`.
        .target(name: "LoadGenerator", dependencies: [
            "SMTPCore", "SMTPNIO",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        .executableTarget(name: "XOAuth2ProxyCLI", dependencies: [
            "Relay", "Sandbox", "Accounts", "OAuth2", "Ops", "LoadGenerator", "Resilience", "SMTPNIO", "FleetState", "Sockets",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .testTarget(name: "SMTPCoreTests", dependencies: [
            "SMTPCore", .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .testTarget(name: "SMTPNIOTests", dependencies: [
            "SMTPNIO", "SMTPCore", "Sockets", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        // Helpers shared by test targets, the manual clock for Resilience's types among them.
        .target(name: "TestSupport", dependencies: [
            "Resilience", .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ], path: "Tests/TestSupport"),
        // A throwaway PostgreSQL server per test process (initdb, a free port, an unprivileged user).
        .target(name: "PostgresTestSupport", dependencies: [
            "TestSupport", "FleetState",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/PostgresTestSupport"),
        .testTarget(name: "FleetStateTests", dependencies: [
            "FleetState", "PostgresTestSupport", "TestSupport", "OAuth2", "Sandbox",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .testTarget(name: "AccountsTests", dependencies: ["Accounts", "TestSupport"]),
        .testTarget(name: "StateStoreTests", dependencies: ["StateStore"]),
        .testTarget(name: "ResilienceTests", dependencies: [
            "Resilience", "SeededRandom", "TestSupport", .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .testTarget(name: "OpsTests", dependencies: [
            "Ops", "TestSupport",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "OAuth2Tests", dependencies: [
            "OAuth2", "Sandbox", "TestSupport",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .testTarget(name: "SandboxTests", dependencies: [
            "Sandbox", "SMTPCore", "SMTPNIO", "TestSupport",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "LoadGeneratorTests", dependencies: [
            "LoadGenerator", "SMTPCore", "SMTPNIO", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .testTarget(name: "RelayTests", dependencies: [
            "Relay", "Sandbox", "Accounts", "OAuth2", "Resilience", "SMTPCore", "SMTPNIO", "Ops", "XOAuth2ProxyCLI", "TestSupport",
            "FleetState", "PostgresTestSupport",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
    ]
)
