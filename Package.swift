// swift-tools-version: 6.0
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Veil",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "veil", targets: ["VeilCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // C layer: system libraries and one-line shims for what Swift cannot call.
        .systemLibrary(
            name: "CLibURing", path: "Sources/CLibURing", pkgConfig: "liburing",
            providers: [.apt(["liburing-dev"])]),
        .systemLibrary(
            name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),
        .systemLibrary(
            name: "CLibCrypt", path: "Sources/CLibCrypt",
            providers: [.apt(["libcrypt-dev"])]),
        .target(name: "CVeilShims", dependencies: ["CLibURing", "COpenSSL"], path: "Sources/CVeilShims"),

        // I/O runtime: one io_uring per worker thread.
        .target(name: "VeilRuntime", dependencies: ["CLibURing", "CVeilShims"], swiftSettings: strict),
        // TLS: record layer, ClientHello parser, record logger (pure; no I/O).
        .target(name: "VeilTLS", dependencies: ["VeilRuntime", "COpenSSL", "CVeilShims"], swiftSettings: strict),
        // Proxy: CONNECT front, rules, resolver, upstream, relay.
        .target(name: "VeilProxy", dependencies: ["VeilRuntime", "VeilTLS", "CLibURing", "CVeilShims", "CLibCrypt"], swiftSettings: strict),
        // Thin CLI.
        .executableTarget(
            name: "VeilCLI",
            dependencies: ["VeilProxy", "VeilRuntime", "VeilTLS", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),

        .testTarget(name: "VeilTLSTests", dependencies: ["VeilTLS"], swiftSettings: strict),
        .testTarget(name: "VeilProxyTests", dependencies: ["VeilProxy"], swiftSettings: strict),
        .testTarget(name: "VeilRuntimeTests", dependencies: ["VeilRuntime"], swiftSettings: strict),
        .testTarget(name: "VeilCLITests", dependencies: ["VeilCLI", "VeilProxy", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: strict),
    ]
)
