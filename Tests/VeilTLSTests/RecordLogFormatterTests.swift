import Testing
import VeilRuntime
@testable import VeilTLS

@Suite struct RecordLogFormatterTests {
    let hello = "ClientHello sni=localhost alpn=h2,http/1.1 versions=TLSv1.3,TLSv1.2 ech=no"

    @Test func textHandshake() {
        let line = RecordLogFormatter.line(format: .text, connection: 7, elapsedNanos: 412_000, direction: .clientToProxy,
                                           summary: TLSRecordSummary(contentType: .handshake, length: 512, messages: [hello]))
        #expect(line == "record conn=7 t=0.000412 dir=client->proxy type=handshake len=512 msgs=\"\(hello)\"\n")
    }

    @Test func textSeveralMessages() {
        let summary = TLSRecordSummary(contentType: .handshake, length: 900,
                                       messages: ["ServerHello version=TLSv1.2 cipher=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 alpn=h2",
                                                  "Certificate", "ServerKeyExchange", "ServerHelloDone"])
        let line = RecordLogFormatter.line(format: .text, connection: 12, elapsedNanos: 1_500_000_000,
                                           direction: .upstreamToProxy, summary: summary)
        #expect(line == "record conn=12 t=1.500000 dir=upstream->proxy type=handshake len=900 "
            + "msgs=\"ServerHello version=TLSv1.2 cipher=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 alpn=h2; Certificate; ServerKeyExchange; ServerHelloDone\"\n")
    }

    @Test func textOpaque() {
        let line = RecordLogFormatter.line(format: .text, connection: 7, elapsedNanos: 412_000, direction: .clientToProxy,
                                           summary: TLSRecordSummary(contentType: .applicationData, length: 53, isOpaque: true))
        #expect(line == "record conn=7 t=0.000412 dir=client->proxy type=application_data len=53 opaque=true\n")
    }

    @Test func textAlert() {
        let alert = TLSAlert(level: .fatal, code: 40)
        let line = RecordLogFormatter.line(format: .text, connection: 3, elapsedNanos: 2_000, direction: .proxyToClient,
                                           summary: TLSRecordSummary(contentType: .alert, length: 2,
                                                                     messages: [alert.summary], alert: alert))
        #expect(line == "record conn=3 t=0.000002 dir=proxy->client type=alert len=2 msgs=\"Alert fatal handshake_failure\"\n")
    }

    @Test func textChangeCipherSpecHasNoMessages() {
        let line = RecordLogFormatter.line(format: .text, connection: 1, elapsedNanos: 0, direction: .proxyToUpstream,
                                           summary: TLSRecordSummary(contentType: .changeCipherSpec, length: 1))
        #expect(line == "record conn=1 t=0.000000 dir=proxy->upstream type=change_cipher_spec len=1\n")
    }

    @Test func jsonHandshake() {
        let line = RecordLogFormatter.line(format: .json, connection: 7, elapsedNanos: 412_000, direction: .clientToProxy,
                                           summary: TLSRecordSummary(contentType: .handshake, length: 512, messages: [hello]))
        #expect(line == "{\"event\":\"record\",\"conn\":7,\"t\":0.000412,\"dir\":\"client->proxy\",\"type\":\"handshake\",\"len\":512,\"msgs\":[\"\(hello)\"]}\n")
    }

    @Test func jsonOpaqueAndSeveral() {
        let opaque = RecordLogFormatter.line(format: .json, connection: 7, elapsedNanos: 412_000, direction: .clientToProxy,
                                             summary: TLSRecordSummary(contentType: .applicationData, length: 53, isOpaque: true))
        #expect(opaque == "{\"event\":\"record\",\"conn\":7,\"t\":0.000412,\"dir\":\"client->proxy\",\"type\":\"application_data\",\"len\":53,\"opaque\":true}\n")
        let several = RecordLogFormatter.line(format: .json, connection: 8, elapsedNanos: 999, direction: .upstreamToProxy,
                                              summary: TLSRecordSummary(contentType: .handshake, length: 20,
                                                                        messages: ["Certificate", "ServerHelloDone"]))
        #expect(several == "{\"event\":\"record\",\"conn\":8,\"t\":0.000001,\"dir\":\"upstream->proxy\",\"type\":\"handshake\",\"len\":20,\"msgs\":[\"Certificate\",\"ServerHelloDone\"]}\n")
    }

    @Test func directionNames() {
        #expect(RecordDirection.allCases.map(\.rawValue) == ["client->proxy", "proxy->upstream", "upstream->proxy", "proxy->client"])
    }

    @Test func lineFromRealCapture() throws {
        var tracker = TLSFlowTracker()
        let summary = try tracker.consume(record: Fixtures.tls13Curl[0].bytes, from: .client)
        let line = RecordLogFormatter.line(format: .text, connection: 7, elapsedNanos: 412_000, direction: .clientToProxy, summary: summary)
        #expect(line == "record conn=7 t=0.000412 dir=client->proxy type=handshake len=512 "
            + "msgs=\"ClientHello sni=localhost alpn=h2,http/1.1 versions=TLSv1.3,TLSv1.2,TLSv1.1,TLSv1.0 ech=no\"\n")
    }
}
