#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only (MAP_PRIVATE). Pages are read from disk only when touched,
/// so opening a multi-gigabyte shard costs a system call, not a copy.
final class MemoryMappedFile: @unchecked Sendable {
    // Immutable after init and the mapping is read-only, so sharing across threads is safe.
    let path: String
    let bytes: UnsafeRawBufferPointer

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.cannotOpen(file: path, reason: Self.errnoText()) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CheckpointError.cannotOpen(file: path, reason: Self.errnoText()) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw CheckpointError.cannotOpen(file: path, reason: "not a regular file")
        }
        let size = Int(info.st_size)
        // A safetensors file always starts with an 8-byte length; anything shorter (including an
        // empty file, which mmap would reject) is reported here.
        guard size >= 8 else { throw CheckpointError.fileTooShort(file: path, size: size) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw CheckpointError.cannotOpen(file: path, reason: "mmap failed: " + Self.errnoText())
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
