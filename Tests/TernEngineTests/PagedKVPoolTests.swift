import Testing
@testable import TernEngine

@Suite struct PagedKVPoolTests {
    @Test func allocationIsAllOrNothing() {
        var pool = PagedKVPool(pageSize: 4, pageCount: 3)
        var table: [Int32] = []
        #expect(!pool.allocate(4, into: &table))
        #expect(table.isEmpty && pool.freePages == 3)
        #expect(pool.allocate(3, into: &table))
        #expect(Set(table) == [0, 1, 2] && pool.freePages == 0)
        #expect(pool.allocate() == nil)
    }

    @Test func pageReturnsOnlyWhenLastReferenceIsReleased() {
        var pool = PagedKVPool(pageSize: 2, pageCount: 2)
        let page = pool.allocate()!
        pool.retain(page)
        #expect(pool.referenceCount(page) == 2)
        pool.release(page)
        #expect(pool.freePages == 1)
        pool.release(page)
        #expect(pool.freePages == 2 && pool.referenceCount(page) == 0)
    }

    @Test func pagesForTokensRoundsUp() {
        let pool = PagedKVPool(pageSize: 16, pageCount: 1)
        #expect(pool.pages(forTokens: 0) == 0)
        #expect(pool.pages(forTokens: 1) == 1)
        #expect(pool.pages(forTokens: 16) == 1)
        #expect(pool.pages(forTokens: 17) == 2)
    }
}

@Suite struct RadixCacheTests {
    /// Allocates pages for `tokens` and inserts them; the caller's references are dropped afterwards,
    /// as a finished request does.
    func insertFinished(_ tokens: [Int32], _ cache: RadixCache, _ pool: inout PagedKVPool) -> [Int32] {
        var pages: [Int32] = []
        #expect(pool.allocate(pool.pages(forTokens: tokens.count), into: &pages))
        let whole = tokens.count / cache.pageSize
        cache.insert(tokens, pages: pages[0..<whole], pool: &pool)
        pool.release(pages)
        return Array(pages[0..<whole])
    }

    @Test func matchesLongestWholePagePrefix() {
        var pool = PagedKVPool(pageSize: 2, pageCount: 16)
        let cache = RadixCache(pageSize: 2)
        let pages = insertFinished([1, 2, 3, 4, 5, 6, 7], cache, &pool)
        #expect(pages.count == 3 && cache.cachedPages == 3)
        #expect(pool.freePages == 13)  // the partial 4th page went back
        #expect(cache.match([1, 2, 3, 4, 5, 6, 7, 8]).pages == pages)
        #expect(cache.match([1, 2, 3, 4, 9, 9]).pages == Array(pages[0..<2]))
        #expect(cache.match([1, 2, 3, 9]).pages == Array(pages[0..<1]))
        #expect(cache.match([1, 9]).pages.isEmpty)
        // A partial page never matches.
        #expect(cache.match([1, 2, 3]).pages == Array(pages[0..<1]))
        #expect(cache.match([1, 2, 3, 4, 5, 6], limit: 5).pages == Array(pages[0..<2]))
    }

    @Test func insertingACachedPrefixKeepsExistingPagesAndAddsTheRest() {
        var pool = PagedKVPool(pageSize: 2, pageCount: 16)
        let cache = RadixCache(pageSize: 2)
        let first = insertFinished([1, 2, 3, 4], cache, &pool)
        let second = insertFinished([1, 2, 3, 4, 5, 6], cache, &pool)
        #expect(cache.cachedPages == 3)
        #expect(cache.match([1, 2, 3, 4, 5, 6]).pages == first + [second[2]])
        // The duplicate pages of the second request went back to the pool.
        #expect(pool.usedPages == 3)
        let branch = insertFinished([1, 2, 7, 7], cache, &pool)
        #expect(cache.match([1, 2, 7, 7]).pages == [first[0], branch[1]])
        #expect(cache.match([1, 2, 3, 4, 5, 6]).pages == first + [second[2]])
        #expect(pool.usedPages == 4 && cache.cachedPages == 4)
    }

    @Test func lockedPrefixesSurviveEvictionAndLeastRecentlyUsedGoesFirst() {
        var pool = PagedKVPool(pageSize: 1, pageCount: 8)
        let cache = RadixCache(pageSize: 1)
        _ = insertFinished([1, 2, 3], cache, &pool)
        _ = insertFinished([4, 5], cache, &pool)
        _ = insertFinished([6, 7], cache, &pool)
        #expect(pool.freePages == 1 && cache.evictablePages == 7)
        let locked = cache.match([1, 2, 3])
        cache.lock(locked.node)
        #expect(cache.evictablePages == 4)
        _ = cache.match([6, 7])  // [4, 5] is now the least recently used
        #expect(cache.evict(pages: 2, pool: &pool) == 2)
        #expect(cache.match([4, 5]).pages.isEmpty)
        #expect(cache.match([6, 7]).pages.count == 2)
        // Everything unlocked can go; the locked path cannot.
        #expect(cache.evict(pages: 10, pool: &pool) == 2)
        #expect(cache.match([1, 2, 3]).pages.count == 3)
        #expect(pool.freePages == 5)
        cache.unlock(locked.node)
        #expect(cache.evictablePages == 3)
        #expect(cache.evict(pages: 10, pool: &pool) == 3)
        #expect(pool.freePages == 8 && cache.cachedPages == 0)
    }

    @Test func splittingALockedNodeKeepsTheLock() {
        var pool = PagedKVPool(pageSize: 1, pageCount: 8)
        let cache = RadixCache(pageSize: 1)
        _ = insertFinished([1, 2, 3, 4], cache, &pool)
        let whole = cache.match([1, 2, 3, 4])
        cache.lock(whole.node)
        _ = insertFinished([1, 2, 9], cache, &pool)  // splits [1,2,3,4] at 2
        #expect(cache.evictablePages == 1)
        #expect(cache.evict(pages: 8, pool: &pool) == 1)
        #expect(cache.match([1, 2, 3, 4]).pages.count == 4)
        cache.unlock(whole.node)
        #expect(!cache.hasLockedNodes)
        #expect(cache.evictablePages == 4)
    }
}
