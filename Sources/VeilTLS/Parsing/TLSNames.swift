/// Human names for TLS code points, as used in log lines. Unknown values read `0xNNNN`.
public enum TLSNames {
    /// `TLSv1.3`, `TLSv1.2`, `TLSv1.1`, `TLSv1.0`, `SSLv3`, else `0xNNNN`.
    public static func version(_ value: UInt16) -> String {
        switch value {
        case 0x0300: "SSLv3"
        case 0x0301: "TLSv1.0"
        case 0x0302: "TLSv1.1"
        case 0x0303: "TLSv1.2"
        case 0x0304: "TLSv1.3"
        default: Hex.word(value)
        }
    }

    /// The IANA name of common cipher suites, e.g. `TLS_AES_128_GCM_SHA256`, else `0xNNNN`.
    public static func cipherSuite(_ value: UInt16) -> String {
        switch value {
        // TLS 1.3
        case 0x1301: "TLS_AES_128_GCM_SHA256"
        case 0x1302: "TLS_AES_256_GCM_SHA384"
        case 0x1303: "TLS_CHACHA20_POLY1305_SHA256"
        case 0x1304: "TLS_AES_128_CCM_SHA256"
        case 0x1305: "TLS_AES_128_CCM_8_SHA256"
        // ECDHE-ECDSA
        case 0xc02b: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
        case 0xc02c: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
        case 0xcca9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        case 0xc009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"
        case 0xc00a: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"
        case 0xc023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"
        case 0xc024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"
        // ECDHE-RSA
        case 0xc02f: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        case 0xc030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
        case 0xcca8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
        case 0xc013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
        case 0xc014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"
        case 0xc027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"
        case 0xc028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"
        // DHE-RSA
        case 0x009e: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"
        case 0x009f: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"
        case 0xccaa: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
        // RSA key exchange
        case 0x009c: "TLS_RSA_WITH_AES_128_GCM_SHA256"
        case 0x009d: "TLS_RSA_WITH_AES_256_GCM_SHA384"
        case 0x002f: "TLS_RSA_WITH_AES_128_CBC_SHA"
        case 0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA"
        case 0x003c: "TLS_RSA_WITH_AES_128_CBC_SHA256"
        case 0x003d: "TLS_RSA_WITH_AES_256_CBC_SHA256"
        case 0x000a: "TLS_RSA_WITH_3DES_EDE_CBC_SHA"
        // Signalling values
        case 0x00ff: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"
        case 0x5600: "TLS_FALLBACK_SCSV"
        default: Hex.word(value)
        }
    }

    /// The name of a supported group (named curve, FFDHE group or hybrid KEM), else `0xNNNN`.
    public static func group(_ value: UInt16) -> String {
        switch value {
        case 0x0017: "secp256r1"
        case 0x0018: "secp384r1"
        case 0x0019: "secp521r1"
        case 0x001d: "x25519"
        case 0x001e: "x448"
        case 0x0100: "ffdhe2048"
        case 0x0101: "ffdhe3072"
        case 0x0102: "ffdhe4096"
        case 0x0103: "ffdhe6144"
        case 0x0104: "ffdhe8192"
        case 0x11eb: "SecP256r1MLKEM768"
        case 0x11ec: "X25519MLKEM768"
        case 0x11ed: "SecP384r1MLKEM1024"
        case 0x6399: "X25519Kyber768Draft00"
        default: Hex.word(value)
        }
    }

    /// True for the reserved GREASE values 0x0a0a, 0x1a1a, ... 0xfafa (RFC 8701).
    public static func isGREASE(_ value: UInt16) -> Bool {
        (value & 0x0f0f) == 0x0a0a && (value >> 8) == (value & 0xff)
    }
}
