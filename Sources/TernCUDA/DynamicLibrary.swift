import Foundation

/// A shared library opened with dlopen; symbols are cast to the C function-pointer types of CCUDA.
final class DynamicLibrary: @unchecked Sendable {
    let name: String
    private let handle: UnsafeMutableRawPointer

    /// Opens the first of `names` that loads.
    init(_ names: [String]) throws {
        var errors: [String] = []
        for name in names {
            if let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) {
                self.name = name
                self.handle = handle
                return
            }
            errors.append(dlerror().map { String(cString: $0) } ?? name)
        }
        throw CUDAError.unavailable("cannot load \(names.joined(separator: " or ")): \(errors.joined(separator: "; "))")
    }

    /// The first of `names` this library exports, as `F`.
    func symbol<F>(_ names: String..., as type: F.Type) throws -> F {
        for name in names {
            if let pointer = dlsym(handle, name) { return unsafeBitCast(pointer, to: F.self) }
        }
        throw CUDAError.unavailable("\(self.name) has no symbol \(names.joined(separator: "/"))")
    }
}
