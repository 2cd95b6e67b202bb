/// X25519 public keys (RFC 7748: the u-coordinate of [k]B for a clamped scalar k) without
/// libcrypto's scalar multiplication, for GREASE ECH (`ECHGrease`). OpenSSL 3.0 takes ~100 us
/// per key here (EVP_PKEY_new_raw_private_key computes the public key with a constant-time
/// ladder or comb: ~600,000 instructions, callgrind), 9% of an intercepted connection. A
/// GREASE key's private half is thrown away at once and never used in a Diffie-Hellman, so it
/// needs no constant-time code; the public key is still exactly X25519(k, 9) for a fresh
/// random k, the same value OpenSSL would give (checked against it in the tests), so a GREASE
/// `enc` cannot be told from a real one.
///
/// How: Ed25519's base point B (birationally equivalent to u = 9) and a table of j * 16^i * B
/// (i < 64, j < 16, affine, made once per process with one batched inversion); [k]B is the sum
/// of one table entry per 4-bit digit of k (64 mixed additions), and u = (Z + Y) / (Z - Y).
/// NEVER use this for a key whose private half is kept: it is not constant-time.
enum X25519BaseMultiplier {
    /// The public key of the (clamped) private key `scalar`; nil unless it is 32 bytes.
    static func publicKey(scalar: [UInt8]) -> [UInt8]? {
        guard scalar.count == 32 else { return nil }
        var k = scalar
        k[0] &= 248
        k[31] &= 127
        k[31] |= 64
        let table = Self.table
        var p = EdwardsPoint.identity
        for i in 0..<64 {
            let digit = Int((k[i / 2] >> (4 * UInt8(i % 2))) & 15)
            if digit != 0 { p = p.adding(table[i * 16 + digit]) }
        }
        return ((p.z + p.y) * (p.z - p.y).inverted()).bytes
    }

    /// Builds the table now (else the first GREASE connection pays ~1 ms for it).
    static func prepare() { _ = table.count }

    static let d: Field25519 = Field25519.zero - Field25519(121_665) * Field25519(121_666).inverted()
    static let d2: Field25519 = d + d

    /// Ed25519's base point: y = 4/5, x the even root of (y^2 - 1) / (d y^2 + 1).
    static let base: EdwardsPoint = {
        let y = Field25519(4) * Field25519(5).inverted()
        let y2 = y * y
        let u = (y2 - .one) * (d * y2 + .one).inverted()
        // x = u^((p+3)/8), times sqrt(-1) = 2^((p-1)/4) when that squares to -u.
        var pPlus3Over8 = [UInt8](repeating: 0xff, count: 32)
        pPlus3Over8[0] = 0xfe
        pPlus3Over8[31] = 0x0f  // 2^252 - 2
        var pMinus1Over4 = [UInt8](repeating: 0xff, count: 32)
        pMinus1Over4[0] = 0xfb
        pMinus1Over4[31] = 0x1f  // 2^253 - 5
        var x = u.power(pPlus3Over8)
        if (x * x).bytes != u.bytes { x = x * Field25519(2).power(pMinus1Over4) }
        if x.bytes[0] & 1 == 1 { x = Field25519.zero - x }
        return EdwardsPoint(x: x, y: y, z: .one, t: x * y)
    }()

    /// j * 16^i * B at [i * 16 + j] (j = 0 is the neutral element).
    static let table: [AffineNiels] = {
        var points = [EdwardsPoint]()
        points.reserveCapacity(64 * 16)
        var step = base
        for _ in 0..<64 {
            var multiple = EdwardsPoint.identity
            for _ in 0..<16 {
                points.append(multiple)
                multiple = multiple.adding(step)
            }
            step = multiple  // 16 * step
        }
        // One inversion for all the Z (Montgomery's trick).
        var prefix = [Field25519](repeating: .one, count: points.count)
        var acc = Field25519.one
        for (i, p) in points.enumerated() {
            prefix[i] = acc
            acc = acc * p.z
        }
        var inverse = acc.inverted()
        var table = [AffineNiels](repeating: AffineNiels(yPlusX: .one, yMinusX: .one, xy2d: .zero), count: points.count)
        for i in points.indices.reversed() {
            let zInverse = inverse * prefix[i]
            inverse = inverse * points[i].z
            let x = points[i].x * zInverse, y = points[i].y * zInverse
            table[i] = AffineNiels(yPlusX: y + x, yMinusX: y - x, xy2d: x * y * d2)
        }
        return table
    }()
}
