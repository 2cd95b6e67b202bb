/// Which leg of the proxied connection a record travelled on.
public enum RecordDirection: String, Sendable, Hashable, CaseIterable {
    case clientToProxy = "client->proxy"
    case proxyToUpstream = "proxy->upstream"
    case upstreamToProxy = "upstream->proxy"
    case proxyToClient = "proxy->client"
}
