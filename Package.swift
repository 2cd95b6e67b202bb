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
        // C layer: system libraries; one-line shims for what Swift cannot call, one target per
        // library they wrap; and Veil's own record cryptography in C.
        .systemLibrary(
            name: "CLibURing", path: "Sources/CLibURing", pkgConfig: "liburing",
            providers: [.apt(["liburing-dev"])]),
        .systemLibrary(
            name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),
        .systemLibrary(
            name: "CLibCrypt", path: "Sources/CLibCrypt",
            providers: [.apt(["libcrypt-dev"])]),
        // io_uring, pipe, signal and eventfd helpers, kTLS socket options and record messages
        // (the runtime's C; no OpenSSL).
        .target(name: "CRuntimeShims", dependencies: ["CLibURing"]),
        // OpenSSL macros as functions (the TLS layer's C).
        .target(name: "COpenSSLShims", dependencies: ["COpenSSL"]),
        // Veil's own TLS record protection and key schedule, in C over libcrypto.
        .target(name: "CRecordCrypto", dependencies: ["COpenSSL"]),

        // I/O runtime: one io_uring per worker thread; the only target that talks to io_uring
        // and to socket-level C (typed operations, Socket, SocketAddress, Pipe, kTLS install).
        .target(name: "VeilRuntime", dependencies: ["CLibURing", "CRuntimeShims"], swiftSettings: strict),
        // TLS: handshake engine (OpenSSL), Veil's record layer, kTLS key derivation, ClientHello
        // parser, record logger, certificate authority and minting. No sockets and no rings: its
        // only I/O is the CA's two files under $VEIL_HOME (CertificateAuthorityFiles).
        .target(name: "VeilTLS", dependencies: ["VeilRuntime", "COpenSSL", "COpenSSLShims", "CRecordCrypto"], swiftSettings: strict),
        // Wire values: host/port, patterns and rules, request parsing, status answers (no dependencies).
        .target(name: "VeilWire", swiftSettings: strict),
        // HTTP/2 (RFC 9113 frames and connection state, RFC 7541 HPACK) for relay tunnels: pure,
        // no dependencies, beside the TLS layer.
        .target(name: "VeilHTTP2", swiftSettings: strict),
        // Out-of-band name resolution: static map, system, DoH, DoT, the Veil relay; DNS codec and cache.
        .target(name: "VeilResolver", dependencies: ["VeilRuntime", "VeilTLS", "VeilWire"], swiftSettings: strict),
        // Proxy: the server, its configuration and the connection pipelines.
        .target(name: "VeilProxy", dependencies: ["VeilRuntime", "VeilTLS", "VeilWire", "VeilResolver", "VeilHTTP2", "CLibCrypt"], swiftSettings: strict),
        // Thin CLI.
        .executableTarget(
            name: "VeilCLI",
            dependencies: ["VeilProxy", "VeilRuntime", "VeilTLS", "VeilWire", "VeilResolver", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),

        .testTarget(name: "VeilTLSTests", dependencies: ["VeilTLS", "VeilRuntime", "COpenSSL", "COpenSSLShims"], swiftSettings: strict),
        .testTarget(name: "VeilWireTests", dependencies: ["VeilWire"], swiftSettings: strict),
        .testTarget(name: "VeilHTTP2Tests", dependencies: ["VeilHTTP2"], swiftSettings: strict),
        .testTarget(name: "VeilResolverTests", dependencies: ["VeilResolver", "VeilWire", "VeilTLS", "VeilRuntime"], swiftSettings: strict),
        .testTarget(name: "VeilProxyTests", dependencies: ["VeilProxy", "VeilWire", "VeilResolver", "VeilRuntime", "VeilTLS", "VeilHTTP2"], swiftSettings: strict),
        .testTarget(name: "VeilRuntimeTests", dependencies: ["VeilRuntime"], swiftSettings: strict),
        .testTarget(name: "VeilCLITests", dependencies: ["VeilCLI", "VeilProxy", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: strict),
    ]
)
