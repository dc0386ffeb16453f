/// Ownership of the KV cache's pages. Every holder (a running sequence's page table, a prefix-cache
/// node) keeps one reference per page; a page returns to the free list when its last reference goes.
/// Reference counts let parallel samples and cached prefixes share pages without copying.
/// Not thread-safe: the engine's step loop is its only user.
public struct PagedKVPool: Sendable {
    public let pageSize: Int
    public let pageCount: Int
    private var freeList: [Int32]
    private var references: [UInt32]

    public init(pageSize: Int, pageCount: Int) {
        precondition(pageSize > 0 && pageCount >= 0)
        self.pageSize = pageSize
        self.pageCount = pageCount
        // Popped from the end: hand out low page ids first (easier to read in tests and dumps).
        freeList = (0..<Int32(pageCount)).reversed()
        references = Array(repeating: 0, count: pageCount)
    }

    public var freePages: Int { freeList.count }
    public var usedPages: Int { pageCount - freeList.count }
    public var tokenCapacity: Int { pageCount * pageSize }

    public func referenceCount(_ page: Int32) -> Int { Int(references[Int(page)]) }

    /// Pages needed to hold `tokens` tokens.
    public func pages(forTokens tokens: Int) -> Int { (tokens + pageSize - 1) / pageSize }

    /// Takes a free page (reference count 1), or nil when none is free.
    public mutating func allocate() -> Int32? {
        guard let page = freeList.popLast() else { return nil }
        references[Int(page)] = 1
        return page
    }

    /// Appends `count` fresh pages to `table`; all or nothing.
    public mutating func allocate(_ count: Int, into table: inout [Int32]) -> Bool {
        guard count <= freeList.count else { return false }
        for _ in 0..<count { table.append(allocate()!) }
        return true
    }

    public mutating func retain(_ page: Int32) {
        precondition(references[Int(page)] > 0, "retain of free page \(page)")
        references[Int(page)] += 1
    }

    public mutating func release(_ page: Int32) {
        let i = Int(page)
        precondition(references[i] > 0, "release of free page \(page)")
        references[i] -= 1
        if references[i] == 0 { freeList.append(page) }
    }

    public mutating func release<C: Collection<Int32>>(_ pages: C) {
        for page in pages { release(page) }
    }
}
