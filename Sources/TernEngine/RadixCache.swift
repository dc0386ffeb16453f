/// A node of the prefix tree: a run of whole pages of tokens and the KV pages holding them.
public final class RadixNode {
    /// `pages.count * pageSize` tokens.
    fileprivate(set) var tokens: [Int32]
    fileprivate(set) var pages: [Int32]
    fileprivate var children: [[Int32]: RadixNode] = [:]
    fileprivate unowned var parent: RadixNode?
    /// Running requests whose prefix runs through this node; locked nodes are never evicted.
    fileprivate(set) var lockCount = 0
    fileprivate var lastAccess: UInt64 = 0

    fileprivate init(tokens: [Int32], pages: [Int32], parent: RadixNode?) {
        self.tokens = tokens
        self.pages = pages
        self.parent = parent
    }
}

/// Prefix cache over token ids (a radix tree, page-granular: only whole pages are cached, so a
/// match always ends on a page boundary and the matched pages can be shared as they are).
/// Nodes hold one pool reference per page. Requests lock the path of the prefix they use;
/// unlocked leaves are evicted least recently used first when the pool runs short.
/// Not thread-safe: owned by the engine's step loop.
public final class RadixCache {
    public let pageSize: Int
    let root: RadixNode
    private var clock: UInt64 = 0
    /// Pages held by the tree.
    public private(set) var cachedPages = 0
    /// Pages in unlocked nodes: what eviction can give back.
    public private(set) var evictablePages = 0
    /// Pages given back by eviction since creation.
    public private(set) var evictedPages = 0

    public init(pageSize: Int) {
        self.pageSize = pageSize
        root = RadixNode(tokens: [], pages: [], parent: nil)
        root.lockCount = 1
    }

    /// Longest cached prefix of `tokens`, at most `limit` tokens, in whole pages: its pages and the
    /// node where it ends (lock it before anything can evict). Splits a node when the match ends inside it.
    public func match(_ tokens: [Int32], limit: Int? = nil) -> (pages: [Int32], node: RadixNode) {
        let end = min(limit ?? tokens.count, tokens.count)
        clock += 1
        var node = root
        var position = 0
        var pages: [Int32] = []
        while position + pageSize <= end, let child = node.children[key(tokens, at: position)] {
            let matched = matchingPages(child, tokens, from: position, end: end)
            let target = matched < child.pages.count ? split(child, at: matched) : child
            target.lastAccess = clock
            pages.append(contentsOf: target.pages)
            position += matched * pageSize
            node = target
            if matched < child.pages.count { break }
        }
        return (pages, node)
    }

    /// Adds the first `pages.count` pages of `tokens` (whose KV lives in `pages`) to the tree.
    /// Parts already cached keep their existing pages; new nodes retain the caller's pages.
    /// Returns the node where the inserted prefix ends.
    @discardableResult
    public func insert(_ tokens: [Int32], pages: ArraySlice<Int32>, pool: inout PagedKVPool) -> RadixNode {
        let end = pages.count * pageSize
        precondition(end <= tokens.count, "more pages than tokens")
        clock += 1
        var node = root
        var position = 0
        while position < end {
            let k = key(tokens, at: position)
            if let child = node.children[k] {
                let matched = matchingPages(child, tokens, from: position, end: end)
                let target = matched < child.pages.count ? split(child, at: matched) : child
                target.lastAccess = clock
                position += matched * pageSize
                node = target
            } else {
                let first = pages.startIndex + position / pageSize
                let newPages = Array(pages[first...])
                for page in newPages { pool.retain(page) }
                let leaf = RadixNode(tokens: Array(tokens[position..<end]), pages: newPages, parent: node)
                leaf.lastAccess = clock
                node.children[k] = leaf
                cachedPages += newPages.count
                evictablePages += newPages.count
                node = leaf
                position = end
            }
        }
        return node
    }

    /// Protects `node` and its ancestors from eviction.
    public func lock(_ node: RadixNode) {
        var current: RadixNode? = node
        while let n = current, n !== root {
            if n.lockCount == 0 { evictablePages -= n.pages.count }
            n.lockCount += 1
            current = n.parent
        }
    }

    public func unlock(_ node: RadixNode) {
        var current: RadixNode? = node
        while let n = current, n !== root {
            precondition(n.lockCount > 0, "unlock of an unlocked radix node")
            n.lockCount -= 1
            if n.lockCount == 0 { evictablePages += n.pages.count }
            current = n.parent
        }
    }

    /// Evicts unlocked leaves, least recently used first, until `pages` pages went back to the pool
    /// or nothing is left to evict. Returns the pages freed.
    @discardableResult
    public func evict(pages wanted: Int, pool: inout PagedKVPool) -> Int {
        guard wanted > 0, evictablePages > 0 else { return 0 }
        var heap = LeastRecentHeap()
        var stack = [root]
        while let node = stack.popLast() {
            if node.children.isEmpty {
                if node !== root && node.lockCount == 0 { heap.push(node) }
            } else {
                stack.append(contentsOf: node.children.values)
            }
        }
        let freeBefore = pool.freePages
        while pool.freePages - freeBefore < wanted, let leaf = heap.pop() {
            pool.release(leaf.pages)
            cachedPages -= leaf.pages.count
            evictablePages -= leaf.pages.count
            evictedPages += leaf.pages.count
            let parent = leaf.parent!
            parent.children[key(leaf.tokens, at: 0)] = nil
            if parent !== root && parent.children.isEmpty && parent.lockCount == 0 { heap.push(parent) }
        }
        return pool.freePages - freeBefore
    }

    /// Every page the tree holds (tests and invariant checks).
    public func allPages() -> [Int32] {
        var result: [Int32] = []
        var stack = [root]
        while let node = stack.popLast() {
            result.append(contentsOf: node.pages)
            stack.append(contentsOf: node.children.values)
        }
        return result
    }

    /// Whether any node is still locked (tests: after all requests end, none should be).
    public var hasLockedNodes: Bool {
        var stack = Array(root.children.values)
        while let node = stack.popLast() {
            if node.lockCount != 0 { return true }
            stack.append(contentsOf: node.children.values)
        }
        return false
    }

    // MARK: helpers

    private func key(_ tokens: [Int32], at position: Int) -> [Int32] {
        Array(tokens[position..<position + pageSize])
    }

    /// Whole pages of `node` equal to `tokens[from...]`, not reading past `end`.
    /// The first page is known to match (it is the child's key) when `end` allows it.
    private func matchingPages(_ node: RadixNode, _ tokens: [Int32], from: Int, end: Int) -> Int {
        let available = min(node.pages.count, (end - from) / pageSize)
        return node.tokens.withUnsafeBufferPointer { mine in
            tokens.withUnsafeBufferPointer { theirs in
                var pages = 0
                outer: while pages < available {
                    let base = pages * pageSize
                    for i in 0..<pageSize where mine[base + i] != theirs[from + base + i] { break outer }
                    pages += 1
                }
                return pages
            }
        }
    }

    /// Splits `node` so that its first `pages` pages become a new parent; returns that parent.
    private func split(_ node: RadixNode, at pages: Int) -> RadixNode {
        precondition(pages > 0 && pages < node.pages.count)
        let cut = pages * pageSize
        let parent = node.parent!
        let head = RadixNode(tokens: Array(node.tokens[..<cut]), pages: Array(node.pages[..<pages]), parent: parent)
        head.lockCount = node.lockCount
        head.lastAccess = node.lastAccess
        parent.children[key(node.tokens, at: 0)] = head
        node.tokens = Array(node.tokens[cut...])
        node.pages = Array(node.pages[pages...])
        node.parent = head
        head.children[key(node.tokens, at: 0)] = node
        return head
    }
}

/// Min-heap of nodes by last access.
private struct LeastRecentHeap {
    private var items: [RadixNode] = []

    mutating func push(_ node: RadixNode) {
        items.append(node)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard items[i].lastAccess < items[p].lastAccess else { break }
            items.swapAt(i, p)
            i = p
        }
    }

    mutating func pop() -> RadixNode? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && items[l].lastAccess < items[m].lastAccess { m = l }
            if r < items.count && items[r].lastAccess < items[m].lastAccess { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return top
    }
}
