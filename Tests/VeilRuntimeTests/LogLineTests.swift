import Testing
@testable import VeilRuntime

@Suite struct LogLineTests {
    @Test func textQuotesWhenNeeded() {
        var line = LogLine(event: "summary", format: .text)
        line.field("conn", 12)
        line.field("target", "example.com:443")
        line.field("reason", "client closed")
        line.field("sni", nil as String?)
        #expect(line.finish() == "summary conn=12 target=example.com:443 reason=\"client closed\" sni=-\n")
    }

    @Test func jsonEscapes() {
        var line = LogLine(event: "record", format: .json)
        line.field("msg", "a\"b\\c\n")
        line.field("ok", true)
        line.field("t", seconds: 1_234_567, decimals: 6)
        line.field("alpn", list: ["h2", "http/1.1"])
        #expect(line.finish() == "{\"event\":\"record\",\"msg\":\"a\\\"b\\\\c\\n\",\"ok\":true,\"t\":0.001235,\"alpn\":[\"h2\",\"http/1.1\"]}\n")
    }

    @Test func secondsFormatting() {
        var line = LogLine(event: "x", format: .text)
        line.field("d", seconds: 2_500_000_000, decimals: 3)
        line.field("z", seconds: 0, decimals: 6)
        #expect(line.finish() == "x d=2.500 z=0.000000\n")
    }
}
