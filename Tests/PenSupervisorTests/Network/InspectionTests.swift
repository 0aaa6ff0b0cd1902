import Foundation
import Testing
@testable import PenSupervisor

/// The first-bytes inspection of `allow` by name, as a hostile guest drives it.
@Suite struct InspectionTests {
    func isWait(_ outcome: Inspection.Outcome) -> Bool { if case .wait = outcome { true } else { false } }

    @Test func anEmptyChunkNeitherStartsTheClockNorCountsAsSentNothing() {
        var inspection = Inspection()
        #expect(isWait(inspection.add([][...], now: Date())))
        #expect(inspection.until == nil, "no deadline: an empty frame must not lead to a judgement on nothing")
    }

    @Test func aTextLineOpenAtTheDeadlineIsAnotherProtocolUnlessItClaimsHTTP() {
        var other = Inspection()
        #expect(isWait(other.add(Array("HELO partial".utf8)[...], now: Date())))
        guard case .decided(nil, _) = other.expire() else { Issue.record("a non-HTTP line was not decided as unnamed"); return }
        var http = Inspection()
        #expect(isWait(http.add(Array("GET / HTTP/1.1\r\nHost: a.example".utf8)[...], now: Date())))
        guard case .refused = http.expire() else { Issue.record("an unfinished HTTP head was not refused"); return }
    }
}
