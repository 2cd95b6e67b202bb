import VeilWire

/// A plain-http request admitted for forwarding, until the upstream connection is up and
/// ForwardMachine takes it (see Connection+Forward).
final class ForwardBody {
    let request: ForwardRequest

    init(request: ForwardRequest) {
        self.request = request
    }
}
