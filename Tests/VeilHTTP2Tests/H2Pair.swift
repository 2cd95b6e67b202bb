@testable import VeilHTTP2

/// A client and a server machine wired to each other in memory: `pump` moves every pending
/// byte both ways until both are quiet, collecting each side's actions.
struct H2Pair {
    var client: H2ConnectionMachine
    var server: H2ConnectionMachine
    var clientActions: [H2ConnectionMachine.Action] = []
    var serverActions: [H2ConnectionMachine.Action] = []

    init(client: H2ConnectionMachine.Configuration = .init(role: .client),
         server: H2ConnectionMachine.Configuration = .init(role: .server)) {
        self.client = H2ConnectionMachine(client)
        self.server = H2ConnectionMachine(server)
        self.client.start()
        self.server.start()
        pump()
    }

    mutating func pump() {
        while !client.outbound.isEmpty || !server.outbound.isEmpty {
            let c = client.outbound
            client.didSend(c.count)
            server.receive(c, actions: &serverActions)
            let s = server.outbound
            server.didSend(s.count)
            client.receive(s, actions: &clientActions)
        }
    }

    /// Client actions since the last call (and clears them).
    mutating func takeClient() -> [H2ConnectionMachine.Action] {
        defer { clientActions.removeAll() }
        return clientActions
    }

    mutating func takeServer() -> [H2ConnectionMachine.Action] {
        defer { serverActions.removeAll() }
        return serverActions
    }

    /// Bytes of `.data` actions per stream.
    static func bytes(_ actions: [H2ConnectionMachine.Action], stream: UInt32) -> [UInt8] {
        actions.reduce(into: []) { out, a in
            if case .data(stream, let b) = a { out += b }
        }
    }
}

/// A raw frame as bytes.
func rawFrame(_ type: UInt8, _ flags: UInt8, _ stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [UInt8(payload.count >> 16 & 0xff), UInt8(payload.count >> 8 & 0xff), UInt8(payload.count & 0xff), type, flags]
    out += [UInt8(stream >> 24 & 0xff), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)]
    return out + payload
}

func headerBlock(_ pairs: [(String, String)]) -> [UInt8] {
    var enc = HPACKEncoder()
    var out: [UInt8] = []
    enc.encode(pairs.map { HPACKHeader(name: $0.0, value: $0.1) }, into: &out)
    return out
}

/// Frames parsed out of `bytes` (a machine's outbound), after the preface when it starts with one.
func frames(_ bytes: [UInt8]) -> [H2Frame] {
    var rest = bytes[...]
    if rest.starts(with: H2.clientPreface) { rest = rest.dropFirst(H2.clientPreface.count) }
    var out: [H2Frame] = []
    while case .frame(let f, let n)? = try? H2FrameParser(maxFrameSize: H2.maxMaxFrameSize).parse(rest) {
        out.append(f)
        rest = rest.dropFirst(n)
    }
    return out
}
