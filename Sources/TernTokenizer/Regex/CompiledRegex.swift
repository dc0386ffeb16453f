/// A pattern compiled to a small backtracking program over Unicode scalars (leftmost-first, like Oniguruma).
struct CompiledRegex: Sendable {
    enum Op: UInt8, Sendable { case set, repeatSet, split, jump, lookahead, match }

    struct Instruction: Sendable {
        var op: Op
        var a: Int32 = 0
        var b: Int32 = 0
        var c: Int32 = 0
    }

    let pattern: String
    let instructions: [Instruction]
    let sets: [ScalarSet]
    /// Flat tables answering set membership without touching `sets` on the common path.
    let lookup: SetLookup
    /// Scalars that can start a match; nil when the pattern can match the empty string.
    let firstSet: ScalarSet?

    init(_ pattern: String, rustWord: Bool = false) throws {
        self.pattern = pattern
        let node = try RegexParser.parse(pattern, rustWord: rustWord)
        var compiler = RegexCompiler()
        compiler.emit(node)
        compiler.instructions.append(Instruction(op: .match))
        instructions = compiler.instructions
        let (first, nullable) = RegexCompiler.firstSets(node)
        if nullable {
            firstSet = nil
        } else {
            var s = ScalarSet(items: first.map { .set($0) })
            s.finalize()
            firstSet = s
            compiler.sets.append(s)  // the last set is the first-scalar filter
        }
        sets = compiler.sets
        lookup = SetLookup(sets)
    }

    /// Scratch space reused across searches so matching does not allocate.
    struct Scratch {
        var frames: [Frame] = []
        init() { frames.reserveCapacity(64) }
    }

    struct Frame {
        var pc: Int32
        var pos: Int32
        /// For a greedy single-set repetition: the lowest position still to try; -1 for an ordinary frame.
        var minPos: Int32
    }

    /// Calls `body(start, end)` for every non-overlapping match in `text[range]`, left to right.
    func forEachMatch(in text: UnsafeBufferPointer<UInt32>, range: Range<Int>, scratch: inout Scratch,
                      _ body: (Int, Int) -> Void) {
        let firstIndex = firstSet == nil ? -1 : sets.count - 1
        instructions.withUnsafeBufferPointer { program in
            lookup.withTables(sets) { sets in
                var pos = range.lowerBound
                let end = range.upperBound
                while pos < end {
                    if firstIndex >= 0 {
                        while pos < end, !sets.contains(firstIndex, text[pos]) { pos += 1 }
                        if pos >= end { break }
                    }
                    let matchEnd = Self.run(program, sets, text, pc: 0, start: pos, end: end, frames: &scratch.frames)
                    if matchEnd < 0 {
                        pos += 1
                    } else if matchEnd == pos {
                        pos += 1  // empty match: nothing to report, step over one scalar
                    } else {
                        body(pos, matchEnd)
                        pos = matchEnd
                    }
                }
            }
        }
    }

    /// Runs the program from `pc` anchored at `start`; returns the match end or -1.
    private static func run(_ program: UnsafeBufferPointer<Instruction>, _ sets: SetLookup.Tables,
                            _ text: UnsafeBufferPointer<UInt32>, pc startPC: Int, start: Int, end: Int,
                            frames: inout [Frame]) -> Int {
        let base = frames.count
        var pc = startPC
        var pos = start
        while true {
            let ins = program[pc]
            var failed = false
            switch ins.op {
            case .set:
                if pos < end, sets.contains(Int(ins.a), text[pos]) {
                    pos += 1
                    pc += 1
                } else {
                    failed = true
                }
            case .repeatSet:
                let set = Int(ins.a)
                let minCount = Int(ins.b)
                let limit = ins.c < 0 ? end : min(end, pos + Int(ins.c))
                var p = pos
                while p < limit, sets.contains(set, text[p]) { p += 1 }
                if p - pos < minCount {
                    failed = true
                } else {
                    if p - pos > minCount {
                        frames.append(Frame(pc: Int32(pc + 1), pos: Int32(p), minPos: Int32(pos + minCount)))
                    }
                    pos = p
                    pc += 1
                }
            case .split:
                // c > 0: the preferred branch must start with a scalar of set c-1; skip it cheaply when not.
                if ins.c > 0, pos >= end || !sets.contains(Int(ins.c) - 1, text[pos]) {
                    pc = Int(ins.b)
                } else {
                    frames.append(Frame(pc: ins.b, pos: Int32(pos), minPos: -1))
                    pc = Int(ins.a)
                }
            case .jump:
                pc = Int(ins.a)
            case .lookahead:
                let inner = run(program, sets, text, pc: pc + 1, start: pos, end: end, frames: &frames)
                let matched = inner >= 0
                if matched == (ins.b != 0) { failed = true } else { pc = Int(ins.c) }
            case .match:
                frames.removeSubrange(base...)
                return pos
            }
            if failed {
                // Backtrack to the most recent alternative.
                guard frames.count > base else { return -1 }
                let frame = frames[frames.count - 1]
                if frame.minPos >= 0 {
                    let next = frame.pos - 1
                    if next > frame.minPos { frames[frames.count - 1].pos = next } else { frames.removeLast() }
                    pc = Int(frame.pc)
                    pos = Int(next)
                } else {
                    frames.removeLast()
                    pc = Int(frame.pc)
                    pos = Int(frame.pos)
                }
            }
        }
    }
}

/// Turns a `RegexNode` tree into `CompiledRegex` instructions.
struct RegexCompiler {
    typealias Instruction = CompiledRegex.Instruction
    var instructions: [Instruction] = []
    var sets: [ScalarSet] = []

    private mutating func addSet(_ s: ScalarSet) -> Int32 {
        sets.append(s)
        return Int32(sets.count - 1)
    }

    mutating func emit(_ node: RegexNode) {
        switch node {
        case .empty:
            break
        case let .set(s):
            instructions.append(Instruction(op: .set, a: addSet(s)))
        case let .concat(items):
            for item in items { emit(item) }
        case let .alternation(branches):
            // split L1, next; L1: branch; jump end; next: split L2, ... ; last branch
            var jumpsToEnd: [Int] = []
            for (i, branch) in branches.enumerated() {
                if i < branches.count - 1 {
                    let split = instructions.count
                    var guardSet: Int32 = 0
                    let (first, nullable) = Self.firstSets(branch)
                    if !nullable {
                        var union = ScalarSet(items: first.map { .set($0) })
                        union.finalize()
                        guardSet = addSet(union) + 1
                    }
                    instructions.append(Instruction(op: .split, a: Int32(split + 1), c: guardSet))
                    emit(branch)
                    jumpsToEnd.append(instructions.count)
                    instructions.append(Instruction(op: .jump))
                    instructions[split].b = Int32(instructions.count)
                } else {
                    emit(branch)
                }
            }
            for j in jumpsToEnd { instructions[j].a = Int32(instructions.count) }
        case let .repetition(body, minCount, maxCount, greedy):
            if greedy, case let .set(s) = body {
                instructions.append(Instruction(op: .repeatSet, a: addSet(s), b: Int32(minCount), c: Int32(maxCount ?? -1)))
                return
            }
            for _ in 0..<minCount { emit(body) }
            if let maxCount {
                // Each optional copy: split body, end (nested so that a failed copy skips the rest).
                var splits: [Int] = []
                for _ in minCount..<maxCount {
                    splits.append(instructions.count)
                    instructions.append(Instruction(op: .split))
                    emit(body)
                }
                let end = Int32(instructions.count)
                for s in splits { setSplit(s, body: Int32(s + 1), exit: end, greedy: greedy) }
            } else {
                let loop = instructions.count
                instructions.append(Instruction(op: .split))
                emit(body)
                instructions.append(Instruction(op: .jump, a: Int32(loop)))
                setSplit(loop, body: Int32(loop + 1), exit: Int32(instructions.count), greedy: greedy)
            }
        case let .lookahead(body, negated):
            let at = instructions.count
            instructions.append(Instruction(op: .lookahead, b: negated ? 1 : 0))
            emit(body)
            instructions.append(Instruction(op: .match))
            instructions[at].c = Int32(instructions.count)
        }
    }

    private mutating func setSplit(_ index: Int, body: Int32, exit: Int32, greedy: Bool) {
        instructions[index].a = greedy ? body : exit
        instructions[index].b = greedy ? exit : body
    }

    /// The sets a match can start with, and whether the node can match the empty string.
    static func firstSets(_ node: RegexNode) -> ([ScalarSet], Bool) {
        switch node {
        case .empty, .lookahead: return ([], true)
        case let .set(s): return ([s], false)
        case let .concat(items):
            var out: [ScalarSet] = []
            for item in items {
                let (f, nullable) = firstSets(item)
                out += f
                if !nullable { return (out, false) }
            }
            return (out, true)
        case let .alternation(branches):
            var out: [ScalarSet] = []
            var nullable = false
            for b in branches {
                let (f, n) = firstSets(b)
                out += f
                nullable = nullable || n
            }
            return (out, nullable)
        case let .repetition(body, minCount, _, _):
            let (f, n) = firstSets(body)
            return (f, n || minCount == 0)
        }
    }
}

/// Set membership as flat arrays: ASCII bitmaps, per-category answers, and the few non-ASCII ranges
/// (exceptions) where the full `ScalarSet` must decide.
struct SetLookup: Sendable {
    private let ascii: [UInt64]  // two words per set
    private let categoryAnswers: [UInt32]
    private let exceptionStart: [Int32]  // sets.count + 1 offsets into exceptionLow/High
    private let exceptionLow: [UInt32]
    private let exceptionHigh: [UInt32]

    init(_ sets: [ScalarSet]) {
        var ascii: [UInt64] = []
        var answers: [UInt32] = []
        var start: [Int32] = [0]
        var low: [UInt32] = []
        var high: [UInt32] = []
        for s in sets {
            var lo: UInt64 = 0, hi: UInt64 = 0
            for v in UInt32(0)..<128 where s.slowContains(v) {
                if v < 64 { lo |= 1 << UInt64(v) } else { hi |= 1 << UInt64(v - 64) }
            }
            ascii += [lo, hi]
            answers.append(s.categoryAnswers())
            for r in s.exceptionRanges() {
                low.append(r.lowerBound)
                high.append(r.upperBound)
            }
            start.append(Int32(low.count))
        }
        self.ascii = ascii
        self.categoryAnswers = answers
        self.exceptionStart = start
        self.exceptionLow = low
        self.exceptionHigh = high
    }

    struct Tables {
        let ascii: UnsafeBufferPointer<UInt64>
        let categoryAnswers: UnsafeBufferPointer<UInt32>
        let exceptionStart: UnsafeBufferPointer<Int32>
        let exceptionLow: UnsafeBufferPointer<UInt32>
        let exceptionHigh: UnsafeBufferPointer<UInt32>
        let sets: UnsafeBufferPointer<ScalarSet>

        @inline(__always)
        func contains(_ set: Int, _ v: UInt32) -> Bool {
            if v < 128 {
                let word = ascii[2 * set + (v >= 64 ? 1 : 0)]
                return (word >> UInt64(v & 63)) & 1 != 0
            }
            var k = Int(exceptionStart[set])
            let end = Int(exceptionStart[set + 1])
            while k < end {
                if v >= exceptionLow[k] && v <= exceptionHigh[k] { return sets[set].slowContains(v) }
                k += 1
            }
            return (categoryAnswers[set] >> UInt32(UnicodeCategory.of(v))) & 1 != 0
        }
    }

    func withTables<R>(_ sets: [ScalarSet], _ body: (Tables) -> R) -> R {
        ascii.withUnsafeBufferPointer { a in
            categoryAnswers.withUnsafeBufferPointer { c in
                exceptionStart.withUnsafeBufferPointer { s in
                    exceptionLow.withUnsafeBufferPointer { l in
                        exceptionHigh.withUnsafeBufferPointer { h in
                            sets.withUnsafeBufferPointer { sets in
                                body(Tables(ascii: a, categoryAnswers: c, exceptionStart: s, exceptionLow: l,
                                            exceptionHigh: h, sets: sets))
                            }
                        }
                    }
                }
            }
        }
    }
}
