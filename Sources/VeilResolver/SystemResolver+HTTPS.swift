extension SystemResolver {
    /// getaddrinfo has no query for HTTPS records; asking plain DNS for them would also show the
    /// name to the network, which is what ECH is meant to hide.
    public func resolveHTTPS(host: String, port: UInt16, completion: @escaping @Sendable (HTTPSOutcome) -> Void) -> HTTPSOutcome? {
        .failure("the system resolver (getaddrinfo, plain DNS) cannot ask for HTTPS records: use --resolver doh, dot or relay, or --ech-config")
    }
}
