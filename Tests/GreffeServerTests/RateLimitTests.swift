import Foundation
import GreffeCore
import GreffeServer
import GreffeStore
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("rate limits")
struct RateLimitTests {
    @Test("a token bucket refills with time and is kept per token")
    func bucket() {
        let limiter = RateLimiter(limits: [.investigate: .init(perSecond: 10, burst: 3), .append: .unlimited])
        let investigator = TokenRecord(id: 1, name: "i", role: .investigate, createdAtMilliseconds: 0, revokedAtMilliseconds: nil)
        let other = TokenRecord(id: 2, name: "j", role: .investigate, createdAtMilliseconds: 0, revokedAtMilliseconds: nil)
        let platform = TokenRecord(id: 3, name: "p", role: .append, createdAtMilliseconds: 0, revokedAtMilliseconds: nil)
        let start = ContinuousClock.now
        #expect((0..<3).allSatisfy { _ in limiter.take(investigator, now: start) == nil })
        let wait = limiter.take(investigator, now: start)
        #expect(wait != nil && wait! > 0.09 && wait! <= 0.1)
        #expect(limiter.take(other, now: start) == nil)
        #expect(limiter.take(investigator, now: start.advanced(by: .milliseconds(100))) == nil)
        #expect((0..<1000).allSatisfy { _ in limiter.take(platform, now: start) == nil })
    }

    @Test("serve --token-rate: the investigators' and admins' budget (bursts of twice the rate), 0 lifts it; appends are never limited")
    func tokenRateOption() {
        let investigator = TokenRecord(id: 1, name: "i", role: .investigate, createdAtMilliseconds: 0, revokedAtMilliseconds: nil)
        let admin = TokenRecord(id: 2, name: "a", role: .admin, createdAtMilliseconds: 0, revokedAtMilliseconds: nil)
        let platform = TokenRecord(id: 3, name: "p", role: .append, createdAtMilliseconds: 0, revokedAtMilliseconds: nil)
        let start = ContinuousClock.now
        let five = RateLimiter.tokenRate(perSecond: 5)
        for token in [investigator, admin] {
            #expect((0..<10).allSatisfy { _ in five.take(token, now: start) == nil })
            #expect(five.take(token, now: start) != nil, "\(token.role) past a burst of 10")
        }
        #expect((0..<1_000).allSatisfy { _ in five.take(platform, now: start) == nil })
        let off = RateLimiter.tokenRate(perSecond: 0)
        #expect((0..<1_000).allSatisfy { _ in off.take(investigator, now: start) == nil && off.take(admin, now: start) == nil })
        // The default is what serve uses without the option.
        let byDefault = RateLimiter.tokenRate(perSecond: RateLimiter.defaultLimits[.investigate]!.perSecond)
        #expect((0..<40).allSatisfy { _ in byDefault.take(investigator, now: start) == nil })
        #expect(byDefault.take(investigator, now: start) != nil)
    }

    @Test("an investigator over budget gets 429 with Retry-After and a JSON error")
    func tooManyRequests() async throws {
        let test = try await TestLedger.make()
        // A budget that does not refill during the test, whatever the machine's speed.
        let limiter = RateLimiter(limits: [.investigate: .init(perSecond: 0.001, burst: 40)])
        try await test.withClient(rateLimiter: limiter) { client in
            var statuses: [HTTPResponse.Status] = []
            var last: TestResponse?
            for _ in 0..<45 {
                let response = try await client.execute(uri: "/v1/events?kind=legal.request", method: .get, headers: bearer(test.investigateToken))
                statuses.append(response.status)
                last = response
            }
            #expect(statuses.prefix(40).allSatisfy { $0 == .ok })
            #expect(statuses.suffix(5).allSatisfy { $0 == .tooManyRequests })
            let limited = try #require(last)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] != nil)
            #expect(try limited.json["error"]?.stringValue?.contains("request budget") == true)
        }
    }
}
