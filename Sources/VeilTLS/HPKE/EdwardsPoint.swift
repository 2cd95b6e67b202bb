/// A point of Ed25519 in extended coordinates: x = X/Z, y = Y/Z, x y = T/Z.
struct EdwardsPoint {
    var x, y, z, t: Field25519

    static let identity = EdwardsPoint(x: .zero, y: .one, z: .one, t: .zero)

    /// self + q (the complete twisted Edwards addition, a = -1; also right for doubling).
    func adding(_ q: EdwardsPoint) -> EdwardsPoint {
        let a = (y - x) * (q.y - q.x)
        let b = (y + x) * (q.y + q.x)
        let c = t * X25519BaseMultiplier.d2 * q.t
        let zz = z * q.z
        let d = zz + zz
        return EdwardsPoint(e: b - a, f: d - c, g: d + c, h: b + a)
    }

    /// self + q for an affine q given as (y + x, y - x, 2 d x y).
    func adding(_ q: AffineNiels) -> EdwardsPoint {
        let a = (y - x) * q.yMinusX
        let b = (y + x) * q.yPlusX
        let c = t * q.xy2d
        let d = z + z
        return EdwardsPoint(e: b - a, f: d - c, g: d + c, h: b + a)
    }

    private init(e: Field25519, f: Field25519, g: Field25519, h: Field25519) {
        self.init(x: e * f, y: g * h, z: f * g, t: e * h)
    }

    init(x: Field25519, y: Field25519, z: Field25519, t: Field25519) {
        (self.x, self.y, self.z, self.t) = (x, y, z, t)
    }
}

/// An affine point ready for a mixed addition.
struct AffineNiels {
    let yPlusX, yMinusX, xy2d: Field25519
}
