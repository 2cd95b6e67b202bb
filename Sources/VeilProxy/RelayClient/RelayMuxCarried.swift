import VeilHTTP2
import VeilWire

/// What a `RelayMux` carries on one HTTP/2 stream: a tunnel (`RelayMuxStream`) or a name query
/// (`RelayMuxQuery`, the relay's RESOLVE). The mux opens the stream from `method`,
/// `authority` and `fields` (the relay's secret is added by the mux) and passes on what its
/// machine says about the stream.
protocol RelayMuxCarried: AnyObject {
    /// The mux carrying it and the stream id (nil: waiting for a connection or for a stream).
    var mux: RelayMux? { get set }
    var streamID: UInt32? { get set }
    /// The relay answered 2xx (a stream lost after that is not opened again elsewhere).
    var established: Bool { get }

    var method: String { get }
    var authority: String { get }
    /// Request fields besides `proxy-authorization`.
    var fields: [HPACKHeader] { get }
    /// The request has no body: END_STREAM with its HEADERS.
    var endsRequest: Bool { get }

    /// The relay's answer: a 2xx (the stream goes on) or a refusal (the stream is over).
    func answered(status: Int, fields: [HPACKHeader], conn: UInt64, streamsOnConnection: Int, relay: String)
    func deliver(_ bytes: ArraySlice<UInt8>)
    func remoteEnd()
    func writable()
    /// The stream or its connection failed.
    func fail(_ status: HTTPStatusResponse.Status, _ reason: String)
    /// The relay reset the stream (RST_STREAM) or the connection failed with `code`.
    func streamReset(_ code: H2ErrorCode, _ reason: String)
    /// Its connection went away before the relay took the stream: onto the next connection.
    func reattach()
}

extension RelayMuxCarried {
    /// A refused answer's reason, as the relay gave it (`veil-reason`), or the status alone.
    static func refusal(_ status: Int, _ fields: [HPACKHeader], what: String, relay: String) -> String {
        "relay \(relay): \(what) answered \(status)\(reason(in: fields).map { ": \($0)" } ?? "")"
    }

    /// The answer's `veil-reason` (a refusal's one-line reason), made safe to log.
    static func reason(in fields: [HPACKHeader]) -> String? {
        fields.first { $0.name == "veil-reason" }.map { HTTPStatusResponse.sanitise($0.value) }
    }
}
