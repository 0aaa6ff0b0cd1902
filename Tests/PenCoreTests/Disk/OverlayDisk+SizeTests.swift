import Testing
@testable import PenCore

/// One size check serves the flag, the profile and the disk's creation.
@Suite struct OverlayDiskSizeTests {
    @Test func theLimitsAreSixteenMiBToSixteenTiB() throws {
        #expect(OverlayDisk.sizeProblem(16 << 20) == nil)
        #expect(OverlayDisk.sizeProblem((16 << 20) + 100) == nil)  // rounds down to whole blocks
        #expect(OverlayDisk.sizeProblem(16 << 40) == nil)
        #expect(OverlayDisk.sizeProblem((16 << 20) - 4096)?.contains("at least 16 MiB") == true)
        #expect(OverlayDisk.sizeProblem((16 << 40) + 1)?.contains("at most 16 TiB") == true)
    }

    @Test func theFlagSaysWhichFlag() {
        #expect { try OverlayDisk.validate(size: 1 << 20) } throws: {
            ($0 as? PenError)?.message == "invalid --disk-size 1M: the overlay disk needs at least 16 MiB"
        }
    }
}
