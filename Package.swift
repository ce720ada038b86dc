// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "sfha",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "CorosyncKit", targets: ["CorosyncKit"]),
        .library(name: "SFHABase", targets: ["SFHABase"]),
        .library(name: "SFHACore", targets: ["SFHACore"]),
        .library(name: "SFHALab", targets: ["SFHALab"]),
        .library(name: "MeshKit", targets: ["MeshKit"]),
        .library(name: "P2PKit", targets: ["P2PKit"]),
        .executable(name: "sfha", targets: ["sfha"]),
        .executable(name: "sfha-lab", targets: ["sfha-lab"]),
        .executable(name: "sfhad", targets: ["sfhad"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // corosync's C client libraries (cmap, quorum, votequorum, cfg, cpg). Headers live in /usr/include, so no
        // pkg-config lookup is needed (libqb's .pc would only add a "-pthread" warning); the apt providers are
        // installed by scripts/install-deps.sh.
        .systemLibrary(
            name: "CCorosync",
            providers: [.apt([
                "libcmap-dev", "libquorum-dev", "libvotequorum-dev", "libcfg-dev", "libcpg-dev",
                "libcorosync-common-dev", "libqb-dev",
            ])]
        ),
        // Linux calls that need _GNU_SOURCE (posix_spawn closefrom, pidfd_open, setns).
        .target(name: "CSFHAShim"),
        // Errors, running programs with argument arrays, atomic files: shared by every sfha library.
        .target(name: "SFHABase", dependencies: ["CSFHAShim"]),
        .target(
            name: "CorosyncKit",
            dependencies: [
                "CCorosync", "CSFHAShim", "SFHABase",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The WireGuard mesh (wg-sfha): keys, the interface and its peers, wg-quick's file.
        .target(
            name: "MeshKit",
            dependencies: ["SFHABase", .product(name: "Crypto", package: "swift-crypto")]),
        // The P2P API on TCP 7777 (mesh only): signed HTTP/1.1 requests and answers, SwiftNIO's parser, limits.
        .target(
            name: "P2PKit",
            dependencies: [
                "SFHABase",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // Configuration, placement, the local reconciler, health checks and the simulator.
        .target(
            name: "SFHACore",
            dependencies: [
                "CorosyncKit", "SFHABase", "CSFHAShim", "MeshKit",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ]
        ),
        // sfhad's optional TCP listener for /metrics: its own module, so that only sfhad links SwiftNIO.
        .target(
            name: "SFHAMetricsHTTP",
            dependencies: [
                "SFHABase",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // Network-namespace lab: real corosync nodes on one machine (tests, benchmarks, demo).
        .target(
            name: "SFHALab",
            dependencies: ["CorosyncKit", "SFHABase", "SFHACore", .product(name: "Logging", package: "swift-log")]),
        .executableTarget(
            name: "sfha",
            dependencies: [
                "CorosyncKit", "SFHACore", "SFHABase", "MeshKit", "P2PKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "sfhad",
            dependencies: [
                "SFHACore", "CorosyncKit", "SFHABase", "SFHAMetricsHTTP", "MeshKit", "P2PKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .executableTarget(
            name: "sfha-lab",
            dependencies: [
                "SFHALab", "SFHACore", "CorosyncKit", "SFHABase",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "SFHABaseTests", dependencies: ["SFHABase"]),
        .testTarget(name: "MeshKitTests", dependencies: ["MeshKit", "SFHABase"]),
        .testTarget(
            name: "P2PKitTests",
            dependencies: [
                "P2PKit", "SFHABase", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(name: "SFHAMetricsHTTPTests", dependencies: ["SFHAMetricsHTTP", "SFHABase"]),
        .testTarget(name: "CorosyncKitTests", dependencies: ["CorosyncKit", "SFHABase"]),
        .testTarget(
            name: "SFHACoreTests",
            dependencies: [
                "SFHACore", "SFHABase", "MeshKit",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),
        .testTarget(name: "CLITests", dependencies: ["sfha", "SFHABase"]),
        .testTarget(name: "IntegrationTests", dependencies: ["SFHALab", "SFHACore", "CorosyncKit", "SFHABase", "MeshKit"]),
    ],
    swiftLanguageModes: [.v6]
)
