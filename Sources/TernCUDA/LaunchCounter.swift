import Synchronization

/// How many times a kernel path was launched, for the selftest's "this kernel actually ran" checks.
/// Atomic, so backends stepping on different threads in one process can count without a data race.
final class LaunchCounter: Sendable {
    private let value = Atomic<Int>(0)

    func increment() { value.add(1, ordering: .relaxed) }

    var count: Int { value.load(ordering: .relaxed) }
}
