import Foundation
import Testing
@testable import PenCore

@Suite struct ExecutableSearchTests {
    @Test func findsAProgramOnPATHBeforeTheFallbacks() throws {
        let dir = NSTemporaryDirectory() + "pen-path-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tool = dir + "/pen-test-tool"
        FileManager.default.createFile(atPath: tool, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
        #expect(ExecutableSearch.find("pen-test-tool", environment: ["PATH": "/nonexistent:\(dir)"]) == tool)
        #expect(ExecutableSearch.find("sh", environment: ["PATH": "\(dir):/bin"], alsoIn: []) == "/bin/sh")
        #expect(ExecutableSearch.find("pen-test-tool", environment: ["PATH": "/nonexistent"], alsoIn: []) == nil)
        // Fallback directories count only after PATH.
        #expect(ExecutableSearch.find("sh", environment: ["PATH": "/nonexistent"], alsoIn: ["/bin"]) == "/bin/sh")
    }

    @Test func aNonExecutableFileIsNotFound() throws {
        let dir = NSTemporaryDirectory() + "pen-path-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/plain", contents: Data(), attributes: [.posixPermissions: 0o644])
        #expect(ExecutableSearch.find("plain", environment: ["PATH": dir], alsoIn: []) == nil)
    }
}
