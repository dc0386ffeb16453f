import Foundation
import TernBackend
import TernCore

extension OpSuite {
    /// `headLinear` (head-batched GEMV, strided-batched cuBLASLt, simple kernel; each forced) and
    /// `copyHeads` against the CPU backend's per-head loop: DeepSeek-V3's absorbed shapes (128 heads,
    /// W_UK 128 → 512 from q's 192-wide heads into 576-wide latent heads, W_UV 512 → 128) at T = 1, 8,
    /// 300, odd token counts and row counts not a multiple of the tiles, narrow heads, and the
    /// expanded form's three copies (one of them a broadcast, head stride 0).
    mutating func mlaHeadOps() {
        struct Case { var name: String; var heads: Int; var dIn: Int; var dOut: Int; var xStride: Int; var oStride: Int }
        let shapes = [
            Case(name: "W_UK 128h 128→512 (q 192 → 576)", heads: 128, dIn: 128, dOut: 512, xStride: 192, oStride: 576),
            Case(name: "W_UV 128h 512→128", heads: 128, dIn: 512, dOut: 128, xStride: 512, oStride: 128),
            Case(name: "V2-Lite W_UK 16h 128→512", heads: 16, dIn: 128, dOut: 512, xStride: 192, oStride: 576),
            Case(name: "V2-Lite W_UV 16h 512→128", heads: 16, dIn: 512, dOut: 128, xStride: 512, oStride: 128),
            Case(name: "16h 64→72 (x 80 → 96)", heads: 16, dIn: 64, dOut: 72, xStride: 80, oStride: 96),
            Case(name: "3h 24→5", heads: 3, dIn: 24, dOut: 5, xStride: 24, oStride: 5),
        ]
        for c in shapes {
            for t in [1, 3, 8, 16, 300] where !(c.dIn >= 128 && t == 3) {
                // cuBLASLt may decline the odd 3-head case (2-byte strides): only its automatic path there.
                let paths: [String?] = t <= 16 ? [nil, "gemv", "simple"] : c.heads == 3 ? [nil, "simple"] : [nil, "blas", "simple"]
                for path in paths {
                    let detail = "\(c.name) T=\(t) \(path ?? "auto")"
                    check("headLinear", detail) { s in try s.headLinearCase(c.heads, c.dIn, c.dOut, c.xStride, c.oStride, t: t, path: path, detail) }
                }
            }
        }
        check("headLinear", "T=0 writes nothing") { s in try s.headLinearCase(4, 16, 8, 16, 8, t: 0, path: nil, "T=0") }

        // (heads, width, source head stride, destination head stride, rows, source pad)
        let copies: [(String, Int, Int, Int, Int, Int)] = [
            ("q rope → q latent 128h×64", 128, 64, 192, 576, 1),
            ("q rope → q latent 128h×64", 128, 64, 192, 576, 8),
            ("q rope → q latent 128h×64", 128, 64, 192, 576, 300),
            ("k nope 128h×128 (256 → 192)", 128, 128, 256, 192, 300),
            ("k rope broadcast 128h×64 (0 → 192)", 128, 64, 0, 192, 300),
            ("v 128h×128 (256 → 128)", 128, 128, 256, 128, 77),
            ("odd 5h×3 (7 → 3), 2-byte units", 5, 3, 7, 3, 9),
            ("zero rows", 4, 8, 8, 8, 0),
        ]
        for (name, heads, width, ss, ds, rows) in copies {
            check("copyHeads", "\(name) rows=\(rows)") { s in
                let sourceWidth = max((heads - 1) * ss + width, 1), destinationWidth = (heads - 1) * ds + width
                let source = try s.pair(rows, sourceWidth, pad: 8)
                let (cOut, gOut) = try s.outputs(rows, destinationWidth + 4)
                try s.cpu.copyHeads(source.cpu, sourceHeadStride: ss, to: cOut.columns(2..<(2 + destinationWidth)), destinationHeadStride: ds,
                                    heads: heads, width: width)
                try s.gpu.copyHeads(source.gpu, sourceHeadStride: ss, to: gOut.columns(2..<(2 + destinationWidth)), destinationHeadStride: ds,
                                    heads: heads, width: width)
                // Untouched destination elements stay CPU 0 / GPU NaN: compare only the written slices.
                var cw: [Float] = [], gw: [Float] = []
                let cAll = try s.cpu.downloadFloats(cOut), gAll = try s.gpu.downloadFloats(gOut)
                var untouchedWritten = 0
                for r in 0..<rows {
                    for col in 0..<(destinationWidth + 4) {
                        let d = col - 2
                        let written = d >= 0 && d < destinationWidth && (ds == 0 ? d < width : (d % ds < width && d / ds < heads))
                        if written { cw.append(cAll[r * (destinationWidth + 4) + col]); gw.append(gAll[r * (destinationWidth + 4) + col]) }
                        else if !gAll[r * (destinationWidth + 4) + col].isNaN { untouchedWritten += 1 }
                    }
                }
                var diff = 0.0, norm = 0.0
                for i in cw.indices {
                    diff += gw[i].isNaN ? .infinity : Double(gw[i] - cw[i]) * Double(gw[i] - cw[i])
                    norm += Double(cw[i]) * Double(cw[i])
                }
                let error = untouchedWritten > 0 ? .infinity : norm > 0 ? (diff / norm).squareRoot() : diff.squareRoot()
                s.record("copyHeads", "\(name) rows=\(rows)", error: error, tolerance: 0)
            }
        }
    }

    /// One `headLinear` case: x and out are strided views (padding around each row); the output's
    /// columns outside the heads' slices are left as they were on both sides and not compared.
    mutating func headLinearCase(_ heads: Int, _ dIn: Int, _ dOut: Int, _ xStride: Int, _ oStride: Int, t: Int, path: String?,
                                 _ detail: String) throws {
        let xWidth = (heads - 1) * xStride + dIn, oWidth = (heads - 1) * oStride + dOut
        let x = try pair(t, xWidth, pad: 16)
        let weightValues = values(heads * dOut * dIn, scale: 1 / Float(dIn).squareRoot())
        let cw = try cpu.upload(floats: weightValues, shape: [heads, dOut, dIn], as: .f32)
        let gw = try gpu.upload(floats: weightValues, shape: [heads, dOut, dIn], as: .bf16)
        // Both outputs start from the same values so that gaps between head slices compare equal.
        let background = values(t * (oWidth + 16))
        let cOut = try cpu.upload(floats: background, shape: [t, oWidth + 16], as: .f32).columns(8..<(8 + oWidth))
        let gOut = try gpu.upload(floats: background, shape: [t, oWidth + 16], as: .bf16).columns(8..<(8 + oWidth))
        try cpu.headLinear(x.cpu, inputHeadStride: xStride, weight: cw, out: cOut, outputHeadStride: oStride)
        let before = (CUDABackend.headGEMVLaunches.count, CUDABackend.headBLASLaunches.count, CUDABackend.headSimpleLaunches.count)
        try gpu.headLinear(x.gpu, inputHeadStride: xStride, weight: gw, out: gOut, outputHeadStride: oStride, path: path)
        try compare("headLinear", detail, cOut, gOut)
        if let path, t > 0 {
            let ran = path == "gemv" ? CUDABackend.headGEMVLaunches.count > before.0
                : path == "blas" ? CUDABackend.headBLASLaunches.count > before.1 : CUDABackend.headSimpleLaunches.count > before.2
            record("headLinear", detail + " (\(path) ran)", error: ran ? 0 : 1, tolerance: 0)
        }
    }
}
