import Foundation

/// One status line on stderr, rewritten in place (at most ten times a second) while a run goes.
actor ProgressLine {
    private let title: String
    private let total: Int
    private let start = monotonicSeconds()
    private var done = 0
    private var failed = 0
    private var outputTokens = 0
    private var lastDraw = 0.0

    init(title: String, total: Int) {
        self.title = title
        self.total = total
    }

    func add(_ record: RequestRecord) {
        done += 1
        if record.succeeded { outputTokens += record.outputTokens } else { failed += 1 }
        let now = monotonicSeconds()
        if now - lastDraw >= 0.1 || done == total {
            lastDraw = now
            draw(elapsed: now - start)
        }
    }

    private func draw(elapsed: Double) {
        let rate = elapsed > 0 ? Double(outputTokens) / elapsed : 0
        let line = String(format: "\r%@ %d/%d done, %d failed, %.1f s, %.1f output tok/s   ",
                          title, done, total, failed, elapsed, rate)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
