/// An element of GF(2^255 - 19) in five 51-bit limbs (the field of Curve25519 and Ed25519), for
/// `X25519BaseMultiplier`. Variable-time where it branches (the inversion's exponent is public):
/// it serves only GREASE keys, whose private half is thrown away.
struct Field25519: Equatable {
    var l0, l1, l2, l3, l4: UInt64

    static let mask: UInt64 = (1 << 51) - 1
    static let zero = Field25519(l0: 0, l1: 0, l2: 0, l3: 0, l4: 0)
    static let one = Field25519(l0: 1, l1: 0, l2: 0, l3: 0, l4: 0)

    init(l0: UInt64, l1: UInt64, l2: UInt64, l3: UInt64, l4: UInt64) {
        (self.l0, self.l1, self.l2, self.l3, self.l4) = (l0, l1, l2, l3, l4)
    }

    init(_ small: UInt64) { self.init(l0: small, l1: 0, l2: 0, l3: 0, l4: 0) }

    /// Limbs below 2^51 (plus a little in l0 after the wrap): the value is unchanged mod p.
    func carried() -> Field25519 {
        var r = self
        r.l1 &+= r.l0 >> 51; r.l0 &= Self.mask
        r.l2 &+= r.l1 >> 51; r.l1 &= Self.mask
        r.l3 &+= r.l2 >> 51; r.l2 &= Self.mask
        r.l4 &+= r.l3 >> 51; r.l3 &= Self.mask
        r.l0 &+= (r.l4 >> 51) &* 19; r.l4 &= Self.mask
        r.l1 &+= r.l0 >> 51; r.l0 &= Self.mask
        return r
    }

    static func + (a: Field25519, b: Field25519) -> Field25519 {
        Field25519(l0: a.l0 &+ b.l0, l1: a.l1 &+ b.l1, l2: a.l2 &+ b.l2, l3: a.l3 &+ b.l3, l4: a.l4 &+ b.l4).carried()
    }

    /// a - b as a + 4p - b (limbs of b stay below 2^53 after `carried`).
    static func - (a: Field25519, b: Field25519) -> Field25519 {
        let top: UInt64 = (1 << 53) - 4
        return Field25519(l0: a.l0 &+ ((1 << 53) - 76) &- b.l0, l1: a.l1 &+ top &- b.l1, l2: a.l2 &+ top &- b.l2,
                          l3: a.l3 &+ top &- b.l3, l4: a.l4 &+ top &- b.l4).carried()
    }

    static func * (a: Field25519, b: Field25519) -> Field25519 {
        let b1 = b.l1 &* 19, b2 = b.l2 &* 19, b3 = b.l3 &* 19, b4 = b.l4 &* 19
        @inline(__always) func m(_ x: UInt64, _ y: UInt64) -> UInt128 { UInt128(x) &* UInt128(y) }
        let r0 = m(a.l0, b.l0) &+ m(a.l1, b4) &+ m(a.l2, b3) &+ m(a.l3, b2) &+ m(a.l4, b1)
        var r1 = m(a.l0, b.l1) &+ m(a.l1, b.l0) &+ m(a.l2, b4) &+ m(a.l3, b3) &+ m(a.l4, b2)
        var r2 = m(a.l0, b.l2) &+ m(a.l1, b.l1) &+ m(a.l2, b.l0) &+ m(a.l3, b4) &+ m(a.l4, b3)
        var r3 = m(a.l0, b.l3) &+ m(a.l1, b.l2) &+ m(a.l2, b.l1) &+ m(a.l3, b.l0) &+ m(a.l4, b4)
        var r4 = m(a.l0, b.l4) &+ m(a.l1, b.l3) &+ m(a.l2, b.l2) &+ m(a.l3, b.l1) &+ m(a.l4, b.l0)
        let mask = UInt128(Self.mask)
        r1 &+= r0 >> 51
        r2 &+= r1 >> 51
        r3 &+= r2 >> 51
        r4 &+= r3 >> 51
        let l0 = UInt64(truncatingIfNeeded: r0 & mask) &+ UInt64(truncatingIfNeeded: r4 >> 51) &* 19
        return Field25519(l0: l0, l1: UInt64(truncatingIfNeeded: r1 & mask), l2: UInt64(truncatingIfNeeded: r2 & mask),
                          l3: UInt64(truncatingIfNeeded: r3 & mask), l4: UInt64(truncatingIfNeeded: r4 & mask)).carried()
    }

    func squared(times n: Int = 1) -> Field25519 {
        var r = self
        for _ in 0..<n { r = r * r }
        return r
    }

    /// self^(p-2) = 1/self (0 for 0), by the usual chain: 254 squarings, 11 multiplications.
    func inverted() -> Field25519 {
        let z2 = squared()
        let z9 = z2.squared(times: 2) * self
        let z11 = z9 * z2
        let z2_5_0 = z11.squared() * z9
        let z2_10_0 = z2_5_0.squared(times: 5) * z2_5_0
        let z2_20_0 = z2_10_0.squared(times: 10) * z2_10_0
        let z2_40_0 = z2_20_0.squared(times: 20) * z2_20_0
        let z2_50_0 = z2_40_0.squared(times: 10) * z2_10_0
        let z2_100_0 = z2_50_0.squared(times: 50) * z2_50_0
        let z2_200_0 = z2_100_0.squared(times: 100) * z2_100_0
        let z2_250_0 = z2_200_0.squared(times: 50) * z2_50_0
        return z2_250_0.squared(times: 5) * z11
    }

    /// self^e for a little-endian exponent (start-up constants only).
    func power(_ exponent: [UInt8]) -> Field25519 {
        var result = Field25519.one
        for byte in exponent.reversed() {
            for bit in (0..<8).reversed() {
                result = result.squared()
                if (byte >> UInt8(bit)) & 1 == 1 { result = result * self }
            }
        }
        return result
    }

    /// The canonical 32-byte little-endian encoding (fully reduced mod p).
    var bytes: [UInt8] {
        var h = carried().carried().carried()
        // h < 2^255 now; h >= p exactly when h + 19 reaches 2^255.
        var t = h
        t.l0 &+= 19
        t.l1 &+= t.l0 >> 51; t.l0 &= Self.mask
        t.l2 &+= t.l1 >> 51; t.l1 &= Self.mask
        t.l3 &+= t.l2 >> 51; t.l2 &= Self.mask
        t.l4 &+= t.l3 >> 51; t.l3 &= Self.mask
        if t.l4 >> 51 != 0 { t.l4 &= Self.mask; h = t }
        let w0 = h.l0 | h.l1 << 51, w1 = h.l1 >> 13 | h.l2 << 38, w2 = h.l2 >> 26 | h.l3 << 25, w3 = h.l3 >> 39 | h.l4 << 12
        var out = [UInt8](repeating: 0, count: 32)
        for (i, w) in [w0, w1, w2, w3].enumerated() {
            for j in 0..<8 { out[i * 8 + j] = UInt8(truncatingIfNeeded: w >> (8 * UInt64(j))) }
        }
        return out
    }

    /// From 32 little-endian bytes (the top bit ignored).
    init(bytes: [UInt8]) {
        var w = [UInt64](repeating: 0, count: 4)
        for i in 0..<32 { w[i / 8] |= UInt64(bytes[i]) << (8 * UInt64(i % 8)) }
        self.init(l0: w[0] & Self.mask, l1: (w[0] >> 51 | w[1] << 13) & Self.mask, l2: (w[1] >> 38 | w[2] << 26) & Self.mask,
                  l3: (w[2] >> 25 | w[3] << 39) & Self.mask, l4: (w[3] >> 12) & Self.mask)
    }
}
