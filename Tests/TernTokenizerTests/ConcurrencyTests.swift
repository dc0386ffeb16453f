import Foundation
import Testing
@testable import TernTokenizer

/// One `Tokenizer` is shared by every request of a server: concurrent encodes must agree with serial ones.
@Suite struct ConcurrencyTests {
    @Test func concurrentEncodesMatchSerialEncodes() async throws {
        let tokenizer = try Fixtures.tokenizer("llama3")
        let docs = Array(Fixtures.corpus.prefix(64))
        let serial = docs.map { tokenizer.encode($0) }
        let concurrent = await withTaskGroup(of: (Int, [Int]).self) { group in
            for (i, doc) in docs.enumerated() { group.addTask { (i, tokenizer.encode(doc)) } }
            var out = [[Int]](repeating: [], count: docs.count)
            for await (i, ids) in group { out[i] = ids }
            return out
        }
        #expect(concurrent == serial)
    }
}
