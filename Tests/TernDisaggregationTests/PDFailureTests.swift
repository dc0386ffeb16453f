import Foundation
import Testing
import TernDisaggregation
import TernEngine

/// A prefill or decode server that dies or stalls mid-transfer: the request fails cleanly within the
/// timeout, the surviving side's pages come back, and the router routes around dead workers.
@Suite(.serialized) struct PDFailureTests {
    let body: [String: Any] = ["prompt": prompt(3, words: 40), "max_tokens": 6, "temperature": 0]

    @Test func prefillDroppingMidTransferFailsTheRequestAndFreesDecodePages() async throws {
        // A dropped connection fails at once; the 20 s timeout only bounds a machine too loaded to register in time.
        let prefill = try await Node.start(.prefill, timeout: 20)
        let decode = try await Node.start(.decode, timeout: 20)
        let router = try await RouterNode.start([prefill.workerSpec, decode.workerSpec], maxRetries: 0)
        prefill.transfer.faults = TransferFaults(senderDropsAfterLayers: 1)
        let failed = try await post(router.base, "/v1/completions", json: body)
        #expect(failed.status == 503)
        #expect(failed.body.contains("KV transfer failed"))
        let d = try await decode.idleMetrics(), p = try await prefill.idleMetrics()
        #expect(d.kvPagesReserved == 0 && d.kvPagesUsed == d.kvPagesCached && d.runningRequests == 0)
        #expect(p.kvPagesUsed == p.kvPagesCached && p.runningRequests == 0)

        prefill.transfer.faults = TransferFaults()
        #expect(try await post(router.base, "/v1/completions", json: body).status == 200)
        await router.stop()
        await prefill.stop()
        await decode.stop()
    }

    @Test func stalledPrefillTimesOutWithinTheTransferTimeout() async throws {
        let prefill = try await Node.start(.prefill, timeout: 1.5)
        let decode = try await Node.start(.decode, timeout: 1.5)
        let router = try await RouterNode.start([prefill.workerSpec, decode.workerSpec], maxRetries: 0)
        prefill.transfer.faults = TransferFaults(senderStallsAfterLayers: 1)
        let start = Date()
        let failed = try await post(router.base, "/v1/completions", json: body)
        let elapsed = Date().timeIntervalSince(start)
        #expect(failed.status == 503)
        #expect(elapsed < 6, "failed after \(elapsed) s")
        let d = try await decode.idleMetrics()
        #expect(d.kvPagesReserved == 0 && d.kvPagesUsed == d.kvPagesCached)
        prefill.transfer.faults = TransferFaults()
        #expect(try await post(router.base, "/v1/completions", json: body).status == 200)
        await router.stop()
        await prefill.stop()
        await decode.stop()
    }

    @Test func decodeDroppingMidTransferLeavesThePrefillPoolWhole() async throws {
        let prefill = try await Node.start(.prefill, timeout: 5)
        let decode = try await Node.start(.decode, timeout: 5)
        let router = try await RouterNode.start([prefill.workerSpec, decode.workerSpec], maxRetries: 0)
        decode.transfer.faults = TransferFaults(receiverDropsAfterHeader: true)
        let failed = try await stream(router.base, "/v1/completions", json: body.merging(["stream": true]) { $1 })
        #expect(failed.events.contains { $0.contains("KV transfer failed") })
        let p = try await prefill.idleMetrics(), d = try await decode.idleMetrics()
        #expect(p.kvPagesUsed == p.kvPagesCached && p.runningRequests == 0)
        #expect(d.kvPagesReserved == 0 && d.kvPagesUsed == d.kvPagesCached)
        decode.transfer.faults = TransferFaults()
        #expect(try await post(router.base, "/v1/completions", json: body).status == 200)
        await router.stop()
        await prefill.stop()
        await decode.stop()
    }

    @Test func routerRoutesAroundDeadServers() async throws {
        let prefills = [try await Node.start(.prefill, timeout: 5), try await Node.start(.prefill, timeout: 5)]
        let decodes = [try await Node.start(.decode, timeout: 5), try await Node.start(.decode, timeout: 5)]
        let router = try await RouterNode.start((prefills + decodes).map(\.workerSpec), policy: .roundRobin, healthInterval: 0.2)
        #expect(try await post(router.base, "/v1/completions", json: body).status == 200)

        await prefills[0].kill()
        await decodes[1].kill()
        // Every request succeeds: a dead worker is either already out of rotation or fails fast and the
        // request is retried on another pair.
        for i in 0..<6 {
            let r = try await post(router.base, "/v1/completions", json: ["prompt": prompt(i, words: 12), "max_tokens": 3, "temperature": 0])
            #expect(r.status == 200, "request \(i): \(r.body)")
        }
        await router.router.checkHealth()
        let health = router.router.workers.map(\.isHealthy)
        #expect(health == [false, true, true, false])
        #expect(try await get(router.base, "/health").status == 200)
        let live = [prefills[1], decodes[0]]
        for node in live {
            let m = try await node.idleMetrics()
            #expect(m.kvPagesReserved == 0 && m.kvPagesUsed == m.kvPagesCached)
        }
        await router.stop()
        for node in prefills + decodes { await node.stop() }
    }
}
