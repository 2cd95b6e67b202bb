import ArgumentParser
import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// Where a subcommand's settings come from, lowest first: the defaults, the config file
/// (`--config` or VEIL_CONFIG; `veil run` and `veil resolve`), the environment, the flags.
/// Repeatable settings accumulate across them. Errors are `ValidationError`s, which
/// swift-argument-parser answers with the subcommand's usage when thrown from `validate()`.
enum SettingSources {
    static func builder(
        for subcommand: Setting.Subcommands, configPath: String?, flags: [(name: String, value: String)]
    ) throws -> ConfigurationBuilder {
        var builder = ConfigurationBuilder(for: subcommand)
        let environment = Environment.current()
        if subcommand == .run || subcommand == .resolve, let path = configPath ?? environment["VEIL_CONFIG"] {
            let file: ConfigFile
            do {
                file = try ConfigFile(text: try readFile(path), path: path)
            } catch {
                throw ValidationError("\(error)")
            }
            do { try builder.apply(file: file) } catch { throw ValidationError(error.description) }
        }
        do {
            try builder.apply(environment: environment)
            for (name, value) in flags { try builder.apply(key: name, value: value, origin: "--\(name)") }
            if subcommand != .ca { _ = try builder.build() }
        } catch {
            throw ValidationError(error.description)
        }
        return builder
    }

    private static func readFile(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ValidationError("cannot read config file \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n < 0 { throw ValidationError("cannot read config file \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > 1 << 20 { throw ValidationError("config file \(path) is larger than 1 MiB") }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

enum Environment {
    static func current() -> [String: String] {
        var env: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return env
    }
}

enum FileHandleStderr {
    static func write(_ s: String) {
        _ = s.withCString { Glibc.write(2, $0, strlen($0)) }
    }
}
