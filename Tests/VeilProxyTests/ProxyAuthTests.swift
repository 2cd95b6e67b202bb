import Testing
@testable import VeilProxy
import VeilWire
import VeilResolver

@Suite("Proxy authentication")
struct ProxyAuthTests {
    @Test func basicCredentialsDecode() {
        // "alice:pa:ss" -> the password may hold ':'.
        let c = BasicCredentials(header: "Basic YWxpY2U6cGE6c3M=")
        #expect(c?.user == "alice")
        #expect(c?.password == Array("pa:ss".utf8))
        #expect(BasicCredentials(header: "basic   YWxpY2U6cGE6c3M=  ")?.user == "alice")
    }

    @Test func malformedCredentialsAreRefused() {
        for bad in ["Bearer YWxpY2U6cGFzcw==", "Basic", "Basic !!!!", "Basic YWxpY2U", "Basic YWxpY2U6cGFzcw=",
                    "Basic YWxpY2VwYXNz", "Basic =YWxp", "Basic YW=xpY2U6"] {
            #expect(BasicCredentials(header: bad) == nil, "\(bad)")
        }
    }

    @Test func plainEntriesCompare() throws {
        var users = ProxyUsers()
        try users.add(entry: "carol:s3cret:x", origin: "test")
        #expect(users.verify(user: "carol", password: Array("s3cret:x".utf8)))
        #expect(!users.verify(user: "carol", password: Array("s3cret".utf8)))
        #expect(!users.verify(user: "dave", password: Array("s3cret:x".utf8)))
        #expect(throws: ProxyUsers.Error.self) { try users.add(entry: "carol:other", origin: "test") }
        #expect(throws: ProxyUsers.Error.self) { try users.add(entry: ":nouser", origin: "test") }
        #expect(throws: ProxyUsers.Error.self) { try users.add(entry: "emptypw:", origin: "test") }
    }

    @Test func hashesAreChecked() throws {
        for setting in ["$5$abcdefgh$", "$2b$05$abcdefghijklmnopqrstuu"] {
            let hash = try #require(ProxyUsers.crypt("right", setting: setting))
            #expect(ProxyUsers.crypt("right", setting: hash) == hash)
            #expect(ProxyUsers.crypt("wrong", setting: hash) != hash)
        }
        #expect(ProxyUsers.scheme(of: "{SHA}abc") == nil)
        #expect(ProxyUsers.scheme(of: "$apr1$abc") == nil)
    }

    @Test func decisions() throws {
        var users = ProxyUsers()
        try users.add(entry: "carol:pw", origin: "test")
        let auth = ProxyAuthenticator(users: users, failures: AuthFailureLimiter(limit: 2, window: 60, block: 30))
        let cache = WorkerAuthCache()
        func decide(_ header: String?, at now: Double) -> String {
            switch auth.decide(header, client: "192.0.2.1", now: now, remembered: cache) {
            case .allowed(let user): return "allowed \(user)"
            case .missing: return "missing"
            case .wrong: return "wrong"
            case .blocked: return "blocked"
            case .check: return "check"
            }
        }
        #expect(decide(nil, at: 0) == "missing")
        #expect(decide("Basic Y2Fyb2w6cHc=", at: 1) == "allowed carol")
        #expect(decide("Basic Y2Fyb2w6eA==", at: 2) == "wrong")
        #expect(decide("Basic Y2Fyb2w6eA==", at: 3) == "wrong")
        #expect(decide("Basic Y2Fyb2w6cHc=", at: 4) == "blocked")
        #expect(decide("Basic Y2Fyb2w6cHc=", at: 40) == "allowed carol")
    }

    @Test func a407CarriesTheChallenge() {
        let text = String(decoding: HTTPStatusResponse(status: .proxyAuthenticationRequired, reason: "r",
                                                       challenge: ProxyAuthenticator.challenge).bytes, as: UTF8.self)
        #expect(text.contains("\r\nProxy-Authenticate: Basic realm=\"veil\", charset=\"UTF-8\"\r\n"))
    }
}
