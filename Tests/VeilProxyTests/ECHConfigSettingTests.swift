import Testing
import VeilTLS
import VeilWire
import VeilResolver
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// `ech`, `ech-rule` and `ech-config`: parsed once for flags, the file and the environment, into
/// ProxyConfiguration; a bad ECHConfigList is a start-up error naming its host.
@Suite struct ECHConfigSettingTests {
    /// bssl-tool's list (public.test, config id 7), as HTTPSRecordTests.bsslList.
    static let bsslBase64 = "AEL+DQA+BwAgACBArj3s8FFViAvC6ZRlBYf+hjgVJXZgUgR8yu6myl+gCwAIAAEAAQABAAMAC3B1YmxpYy50ZXN0AAA="

    static func binaryFile(_ bytes: [UInt8]) throws -> String {
        var template = Array("/tmp/veil-ech-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw SettingFiles.Failure() }
        defer { close(fd) }
        guard write(fd, bytes, bytes.count) == bytes.count else { throw SettingFiles.Failure() }
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    @Test func base64BinaryFileAndBase64FileAllGiveTheList() throws {
        let bytes = try #require(Base64.decode(Self.bsslBase64))
        let binary = try Self.binaryFile(bytes)
        let text = try SettingFiles.make(Self.bsslBase64 + "\n")
        for value in ["Origin.Test=" + Self.bsslBase64, "origin.test=@" + binary, "origin.test.=@" + text] {
            let e = try ExplicitECHConfig(parsing: value)
            #expect(e.host == "origin.test")
            #expect(try e.list.selection().config.publicName == "public.test")
            #expect(e.description == "origin.test=" + Self.bsslBase64)
        }
    }

    @Test(arguments: [
        ("origin.test", "is not HOST=BASE64 or HOST=@FILE"),
        ("=AAAA", "is not a host name"),
        ("127.0.0.1=AAAA", "is not a host name"),
        ("origin.test=not base64!", "ech-config for origin.test: the value is not base64"),
        ("origin.test=AAECAwQF", "ech-config for origin.test: malformed ECHConfigList"),
        ("origin.test=AAA=", "ech-config for origin.test: empty ECHConfigList"),
        ("origin.test=@/nonexistent/ech.bin", "ech-config for origin.test: cannot read /nonexistent/ech.bin"),
    ])
    func badValuesNameTheHost(_ value: String, _ message: String) {
        do {
            _ = try ExplicitECHConfig(parsing: value)
            Issue.record("accepted \(value)")
        } catch {
            #expect(error.description.contains(message), "\(error)")
        }
    }

    /// A list that parses but has no config Veil can use (here: an unknown KEM) is refused too.
    @Test func aListWithNoUsableConfigIsRefused() throws {
        var bytes = try #require(Base64.decode(Self.bsslBase64))
        bytes[7] = 0x00; bytes[8] = 0x10  // kem_id 0x0010 (P-256)
        let path = try Self.binaryFile(bytes)
        #expect(throws: ExplicitECHConfig.ParseError.self) { try ExplicitECHConfig(parsing: "origin.test=@" + path) }
        do { _ = try ExplicitECHConfig(parsing: "origin.test=@" + path) } catch {
            #expect(error.description.hasPrefix("ech-config for origin.test: no usable ECH config"))
        }
    }

    @Test func settingsLandInTheConfiguration() throws {
        var b = ConfigurationBuilder()
        try b.apply(key: "ech", value: "off", origin: "--ech")
        try b.apply(key: "ech-rule", value: "*.example.com=require", origin: "--ech-rule")
        try b.apply(key: "ech-config", value: "origin.test=" + Self.bsslBase64, origin: "--ech-config")
        let c = try b.build()
        #expect(c.ech == .off)
        #expect(c.echMode(for: try HostPort(host: "a.example.com", port: 443)) == .require)
        #expect(c.echMode(for: try HostPort(host: "other.test", port: 443)) == .off)
        #expect(c.requiresECH)
        #expect(c.echConfigs.map(\.host) == ["origin.test"])
        #expect(throws: ConfigurationBuilder.Error.self) { try b.apply(key: "ech", value: "maybe", origin: "--ech") }
        do { try b.apply(key: "ech-config", value: "bad.test=AAECAwQF", origin: "f.conf:3") } catch {
            #expect(error.description.hasPrefix("f.conf:3: ech-config for bad.test: malformed ECHConfigList"))
        }
        let chain = try ResolverFactory.make(c)
        #expect(chain.echConfig(for: "origin.test", completion: { _ in }) == .explicit(c.echConfigs[0].list))
    }
}
