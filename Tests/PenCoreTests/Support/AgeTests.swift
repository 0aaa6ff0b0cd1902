import Foundation
import Testing
@testable import PenCore

@Suite struct AgeTests {
    @Test func ages() {
        #expect(Age.format(0) == "0s")
        #expect(Age.format(-5) == "0s")
        #expect(Age.format(59.9) == "59s")
        #expect(Age.format(180) == "3m")
        #expect(Age.format(3599) == "59m")
        #expect(Age.format(2 * 3600 + 59) == "2h")
        #expect(Age.format(5 * 86400 + 7200) == "5d")
        #expect(Age.format(.infinity) == "0s")
        #expect(Age.since(Date(timeIntervalSince1970: 0), now: Date(timeIntervalSince1970: 120)) == "2m")
    }
}
