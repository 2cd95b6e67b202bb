import Foundation
import Testing
import VeilWire
import VeilResolver
import VeilRuntime
import VeilTLS
@testable import VeilProxy

/// The request phase's part of ECH upstream: the config lookup beside the address lookup (in
/// either order, at once or later), `--ech require` refusing before any connect, and what the
/// hand-over carries to the intercept.
@Suite("RequestMachine: ECH config lookup beside the address")
struct RequestMachineECHTests {
    typealias Run = RequestMachineTests.Run
    static let addr = SocketAddress(ip: "127.0.0.1", port: 4433)!
    /// An ECHConfigList (public name public.test, config id 7).
    static let list = try! ECHConfigList.parse(Array(Data(base64Encoded:
        "AEL+DQA+BwAgACBArj3s8FFViAvC6ZRlBYf+hjgVJXZgUgR8yu6myl+gCwAIAAEAAQABAAMAC3B1YmxpYy50ZXN0AAA=")!))

    func addresses(_ r: Run) -> [String] {
        r.on(.resolved(.success(ResolvedAddresses(addresses: [Self.addr], source: "static")), immediately: true, now: r.now))
    }

    @Test func theLookupGoesBesideTheAddressAndTheConnectWaitsForBoth() {
        let r = Run(Run.config { $0.mode = .intercept })
        _ = r.start()
        let asked = r.arrive("CONNECT origin.test:4433 HTTP/1.1\r\n\r\n")
        #expect(asked.first == "ech lookup origin.test:4433" && asked.last == "resolve origin.test:4433")
        #expect(!addresses(r).contains { $0.hasPrefix("connect") })  // held for the ECH answer
        #expect(r.on(.echLooked(.explicit(Self.list), now: r.now)).last == "connect 127.0.0.1:4433")
        #expect(r.on(.connected(0, now: r.now)).suffix(2) == ["answer 200", "send 0"])
        #expect(r.on(.answerSent(39, now: r.now)) == ["hand over intercept 37..<37 ech=offered"])
    }

    @Test func theECHAnswerMayComeFirst() {
        let r = Run(Run.config { $0.mode = .intercept })
        _ = r.start()
        r.arrive("CONNECT origin.test:4433 HTTP/1.1\r\n\r\n")
        #expect(r.on(.echLooked(.none("no HTTPS record"), now: r.now)).isEmpty)
        #expect(addresses(r).last == "connect 127.0.0.1:4433")
        r.on(.connected(0, now: r.now))
        #expect(r.on(.answerSent(39, now: r.now)) == ["hand over intercept 37..<37 ech=grease"])
    }

    @Test func requireWithoutAConfigIs502BeforeAnyConnect() {
        let r = Run(Run.config { $0.mode = .intercept; $0.ech = .require })
        _ = r.start()
        r.arrive("CONNECT plain.test:4433 HTTP/1.1\r\n\r\n")
        _ = addresses(r)
        let out = r.on(.echLooked(.none("no HTTPS record (doh x)"), now: r.now))
        #expect(!out.contains { $0.hasPrefix("connect") })
        #expect(out.suffix(2) == ["answer 502", "send 0"])
        let text = String(decoding: r.lastAnswer, as: UTF8.self)
        #expect(text.contains("--ech require: plain.test has no usable ECH config (no HTTPS record (doh x))"))
        #expect(r.machine.pendingClose?.kind == .echRequired)
    }

    @Test func aRuleTurnsItOffForOneHostAndPassThroughNeverAsks() {
        let r = Run(Run.config {
            $0.mode = .intercept
            $0.echRules = [(try! HostPattern(parsing: "plain.test"), .off)]
        })
        _ = r.start()
        let out = r.arrive("CONNECT plain.test:4433 HTTP/1.1\r\n\r\n")
        #expect(out.last == "resolve plain.test:4433" && !out.contains { $0.hasPrefix("ech lookup") })
        #expect(addresses(r).last == "connect 127.0.0.1:4433")
        let p = Run(Run.config { $0.mode = .passthrough })
        _ = p.start()
        #expect(!p.arrive("CONNECT origin.test:4433 HTTP/1.1\r\n\r\n").contains { $0.hasPrefix("ech lookup") })
    }

    @Test func aLiteralAddressWaitsForTheLookupToo() {
        let r = Run(Run.config { $0.mode = .intercept })
        _ = r.start()
        let out = r.arrive("CONNECT 127.0.0.1:4433 HTTP/1.1\r\n\r\n")
        #expect(out.contains("ech lookup 127.0.0.1:4433") && !out.contains { $0.hasPrefix("connect") })
        #expect(r.on(.echLooked(.none("an IP address has no HTTPS record"), now: r.now)).last == "connect 127.0.0.1:4433")
    }

    /// Under `auto` a late HTTPS answer holds the addresses at most 0.5 s (a quarter of a short
    /// connect timeout), then GREASE with the reason; `require` waits up to the connect timeout.
    @Test func aLateLookupUnderAutoGoesOnWithGreaseAfterTheBound() {
        let r = Run(Run.config { $0.mode = .intercept })
        _ = r.start()
        r.arrive("CONNECT origin.test:4433 HTTP/1.1\r\n\r\n")
        #expect(addresses(r) == ["deadline \(r.now + Run.second / 2)"])
        #expect(r.on(.deadline(now: r.now + Run.second / 4)) == ["deadline \(r.now + Run.second / 2)"])
        #expect(r.on(.deadline(now: r.now + Run.second / 2)).last == "connect 127.0.0.1:4433")
        #expect(r.summary.echNote == "HTTPS record lookup late: no answer 0.5s after the addresses")
        #expect(r.on(.echLooked(.explicit(Self.list), now: r.now)).isEmpty)  // too late: ignored
        r.on(.connected(0, now: r.now))
        #expect(r.on(.answerSent(39, now: r.now)) == ["hand over intercept 37..<37 ech=grease"])
        #expect(RequestMachine.echGrace(Run.config { $0.connectTimeout = 1 }) == 0.25)
    }

    /// `ech-wait` sets the bound.
    @Test func echWaitSetsTheBound() {
        let r = Run(Run.config { $0.mode = .intercept; $0.echWait = 2 })
        _ = r.start()
        r.arrive("CONNECT origin.test:4433 HTTP/1.1\r\n\r\n")
        #expect(addresses(r) == ["deadline \(r.now + 2 * Run.second)"])
        #expect(r.on(.deadline(now: r.now + 2 * Run.second)).last == "connect 127.0.0.1:4433")
        #expect(r.summary.echNote == "HTTPS record lookup late: no answer 2s after the addresses")
    }

    @Test func aLateLookupUnderRequireWaitsForTheConnectTimeoutThen504() {
        let r = Run(Run.config { $0.mode = .intercept; $0.ech = .require })
        _ = r.start()
        r.arrive("CONNECT origin.test:4433 HTTP/1.1\r\n\r\n")
        #expect(addresses(r) == ["deadline \(r.now + 10 * Run.second)"])
        let out = r.on(.deadline(now: r.now + 10 * Run.second))
        #expect(!out.contains { $0.hasPrefix("connect") } && out.suffix(2) == ["answer 504", "send 0"])
        #expect(r.machine.pendingClose?.kind == .echRequired)
        #expect(String(decoding: r.lastAnswer, as: UTF8.self).contains("the ECH config lookup for origin.test"))
    }

    /// `route tunnel`, `auto`: the config is asked through the relay once the tunnel is up (the
    /// relay took the secret), and the 200 waits for it at most 0.5 s.
    @Test func aTunnelledTargetAsksTheRelayForItsConfig() {
        let r = Run(RequestMachineEndsTests.tunnelConfig { $0.mode = .intercept })
        _ = r.start()
        #expect(r.arrive("CONNECT origin.test:4433 HTTP/1.1\r\n\r\n") == ["deadline 0", "tunnel origin.test:4433"])
        #expect(r.on(.tunnelEstablished(path: .userspace, note: nil, now: r.now))
                == ["deadline \(r.now + Run.second / 2)", "ech lookup via relay origin.test:4433"])
        #expect(r.on(.echLooked(.explicit(Self.list), now: r.now)).suffix(2) == ["answer 200", "send 0"])
        #expect(r.on(.answerSent(39, now: r.now)) == ["hand over intercept 37..<37 ech=offered"])

        let late = Run(RequestMachineEndsTests.tunnelConfig { $0.mode = .intercept })
        _ = late.start()
        late.arrive("CONNECT origin.test:4433 HTTP/1.1\r\n\r\n")
        late.on(.tunnelEstablished(path: .userspace, note: nil, now: late.now))
        #expect(late.on(.deadline(now: late.now + Run.second / 2)).suffix(2) == ["answer 200", "send 0"])
        #expect(late.summary.echNote == "HTTPS record lookup through the relay late: no answer 0.5s after the tunnel was up")
        #expect(late.on(.answerSent(39, now: late.now)) == ["hand over intercept 37..<37 ech=grease"])
    }

    /// `route tunnel` with `require`: nothing goes to the relay's target before a usable config.
    @Test func aTunnelledTargetUnderRequireStartsTheTunnelOnlyWithAConfig() {
        let r = Run(RequestMachineEndsTests.tunnelConfig { $0.mode = .intercept; $0.ech = .require })
        _ = r.start()
        #expect(r.arrive("CONNECT plain.test:4433 HTTP/1.1\r\n\r\n")
                == ["ech lookup via relay plain.test:4433", "deadline \(r.now + 10 * Run.second)"])
        let out = r.on(.echLooked(.none("no HTTPS record (relay x)"), now: r.now))
        #expect(!out.contains { $0.hasPrefix("tunnel") } && out.suffix(2) == ["answer 502", "send 0"])
        #expect(r.machine.pendingClose?.kind == .echRequired)

        let ok = Run(RequestMachineEndsTests.tunnelConfig { $0.mode = .intercept; $0.ech = .require })
        _ = ok.start()
        ok.arrive("CONNECT origin.test:4433 HTTP/1.1\r\n\r\n")
        #expect(ok.on(.echLooked(.explicit(Self.list), now: ok.now)) == ["deadline 0", "tunnel origin.test:4433"])
        #expect(ok.on(.tunnelEstablished(path: .userspace, note: nil, now: ok.now)).suffix(2) == ["answer 200", "send 0"])

        let slow = Run(RequestMachineEndsTests.tunnelConfig { $0.mode = .intercept; $0.ech = .require })
        _ = slow.start()
        slow.arrive("CONNECT origin.test:4433 HTTP/1.1\r\n\r\n")
        let timedOut = slow.on(.deadline(now: slow.now + 10 * Run.second))
        #expect(!timedOut.contains { $0.hasPrefix("tunnel") } && timedOut.suffix(2) == ["answer 504", "send 0"])
        #expect(String(decoding: slow.lastAnswer, as: UTF8.self).contains("resolver relay 127.0.0.1:4433"))
    }
}
