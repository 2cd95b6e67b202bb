#if canImport(Glibc)
import VeilResolver
import VeilWire
import Glibc
#endif

/// A secret given as a flag (`--secret S`, `--relay-secret S`) is readable by every local user
/// in /proc/PID/cmdline and `ps`: Veil overwrites it in its own argument strings as soon as it
/// has read it, and warns (the shell history and the moments before start-up still have it).
enum SecretArgument {
    /// Blanks the value of every `flag VALUE` / `flag=VALUE` in this process's arguments;
    /// returns whether there was one. `exceptFileReference`: a value starting with `@` names a
    /// file and stays.
    @discardableResult
    static func scrub(_ flag: String, exceptFileReference: Bool = false) -> Bool {
        var found = false
        let argc = Int(CommandLine.argc)
        let argv = CommandLine.unsafeArgv
        var i = 1
        while i < argc {
            guard let arg = argv[i] else { i += 1; continue }
            let text = String(cString: arg)
            if text == flag, i + 1 < argc, let value = argv[i + 1] {
                if exceptFileReference && value.pointee == 0x40 { i += 2; continue }  // '@'
                blank(value, from: 0)
                found = true
                i += 2
                continue
            }
            if text.hasPrefix(flag + "="), !(exceptFileReference && text.hasPrefix(flag + "=@")) {
                blank(arg, from: flag.utf8.count + 1)
                found = true
            }
            i += 1
        }
        return found
    }

    private static func blank(_ s: UnsafeMutablePointer<CChar>, from offset: Int) {
        let n = strlen(s)
        guard n > offset else { return }
        memset(s + offset, 0x78, n - offset)  // 'x'
    }

    static func warning(flag: String, instead: String) -> String {
        "warning: \(flag) on the command line is readable by every local user (ps, /proc/PID/cmdline) and stays in shell history; Veil has blanked it in its own arguments, but use \(instead) instead"
    }
}
