import Foundation
import Testing
@testable import PenSupervisor

/// What reaches the attached shells of the relay's refusals: a guest that makes a thousand
/// refused connections costs the user five lines and one summary, never a flood.
@Suite struct RelayNoticesTests {
    @Test func aBurstIsCutToFiveLinesAndTheRestSaidOnceTheWindowEnds() {
        let notices = RelayNotices()
        let start = Date()
        for i in 0..<1000 { notices.refused("pen: network: refused 10.0.0.\(i % 250):80: private address", now: start) }
        let first = notices.take(now: start)
        #expect(first.lines.count == RelayNotices.burst)
        #expect(first.fatal == nil)
        #expect(notices.pendingSummaryAt == start.addingTimeInterval(RelayNotices.window))
        #expect(notices.take(now: start.addingTimeInterval(1)).lines.isEmpty, "the summary waits for the window's end")
        let later = notices.take(now: start.addingTimeInterval(RelayNotices.window))
        #expect(later.lines == ["network: \(1000 - RelayNotices.burst) more connection(s) refused; every one is in network.log"])
        #expect(notices.pendingSummaryAt == nil)
    }

    @Test func aNewWindowGetsItsFiveAgainAndAFailureIsToldOnce() {
        let notices = RelayNotices()
        let start = Date()
        notices.refused("a", now: start)
        notices.refused("b", now: start.addingTimeInterval(RelayNotices.window + 1))
        #expect(notices.take(now: start.addingTimeInterval(RelayNotices.window + 1)).lines == ["a", "b"])
        notices.failed("pen.net: unknown frame kind 7")
        notices.failed("later")
        #expect(notices.take().fatal == "pen.net: unknown frame kind 7")
        #expect(notices.take().fatal == nil)
    }

    @Test func eachAdditionWakesTheLoopAndTakingDrainsTheWakeUps() {
        let notices = RelayNotices()
        var probe = pollfd(fd: notices.wakeRead, events: Int16(POLLIN), revents: 0)
        #expect(poll(&probe, 1, 0) == 0)
        notices.refused("x")
        #expect(poll(&probe, 1, 0) == 1)
        _ = notices.take()
        probe.revents = 0
        #expect(poll(&probe, 1, 0) == 0)
    }
}
