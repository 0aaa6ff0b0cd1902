import Foundation
import PenTestSupport
import Testing
@testable import ProfileBuilder

@Suite struct BuildProgressTests {
    @Test func aLineWithoutEndIsCutAtTheLineLimit() throws {
        let scratch = TemporaryDirectory.fresh("pen-progress")
        let progress = try BuildProgress(logPath: scratch.file("build.log"), profile: "p")
        let chunk = [UInt8](repeating: 0x61, count: 100_000)
        for _ in 0..<10 { progress.receive(chunk) }  // 1 MB, no newline
        #expect(progress.partial.count <= BuildProgress.maxLineBytes)
        #expect(progress.lastLines.allSatisfy { $0.utf8.count <= BuildProgress.maxLineBytes })
        progress.receive(Array("\nnext line\n".utf8))
        #expect(progress.lastLines.last == "next line")
    }

    @Test func theLogFileStopsAtTheLogLimit() throws {
        let scratch = TemporaryDirectory.fresh("pen-progress")
        let path = scratch.file("build.log")
        let progress = try BuildProgress(logPath: path, profile: "p")
        let line = Array((String(repeating: "x", count: 1023) + "\n").utf8)
        let chunk = Array([[UInt8]](repeating: line, count: 1024).joined())  // 1 MiB of lines
        for _ in 0..<(BuildProgress.maxLogBytes >> 20) + 6 { progress.receive(chunk) }
        let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(size > BuildProgress.maxLogBytes && size < BuildProgress.maxLogBytes + 200)
        let tail = try String(contentsOfFile: path, encoding: .utf8).suffix(120)
        #expect(tail.contains("the rest was dropped"))
    }
}

@Suite struct BuildProgressPhaseTests {
    @Test func phaseLinesAreBoundedInNumberAndLength() throws {
        let scratch = TemporaryDirectory.fresh("pen-progress")
        let progress = try BuildProgress(logPath: scratch.file("build.log"), profile: "p")
        var text = ""
        for i in 0..<1000 { text += BuilderScript.phasePrefix + "phase \(i)\n" }
        text += BuilderScript.phasePrefix + String(repeating: "x", count: 4000) + "\n"
        progress.receive(Array(text.utf8))
        progress.finish()
        #expect(progress.phases.count <= BuildProgress.maxPhases + 1)
        #expect(progress.phases.allSatisfy { $0.name.utf8.count <= BuildProgress.maxPhaseNameBytes })
        #expect(progress.partial.isEmpty)
    }
}
