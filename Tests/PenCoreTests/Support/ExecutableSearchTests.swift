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

@Suite struct ExecutableSearchRelativePathTests {
    @Test func relativeAndEmptyPATHEntriesAreNeverSearched() throws {
        let dir = NSTemporaryDirectory() + "pen-path-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/pen-planted", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
        FileManager.default.createFile(atPath: dir + "/bin/pen-planted", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
        // A relative spelling of the planted directory from wherever the tests run (no chdir:
        // tests share one process), and an empty entry, which a shell reads as ".".
        let up = String(repeating: "../", count: FileManager.default.currentDirectoryPath.split(separator: "/").count)
        let relative = up + dir.dropFirst()
        for path in [relative, relative + "/bin", ":/nonexistent", "\(up)bin"] {
            #expect(ExecutableSearch.find("pen-planted", environment: ["PATH": path], alsoIn: []) == nil, "PATH=\(path)")
        }
        #expect(ExecutableSearch.find("sh", environment: ["PATH": "\(up)bin"], alsoIn: []) == nil)
        #expect(ExecutableSearch.find("pen-planted", environment: ["PATH": "\(relative):\(dir)/bin"], alsoIn: []) == dir + "/bin/pen-planted")
    }

    @Test func aDirectoryNamedLikeTheProgramIsNotFound() throws {
        let dir = NSTemporaryDirectory() + "pen-path-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/qemu-like", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(ExecutableSearch.find("qemu-like", environment: ["PATH": dir], alsoIn: []) == nil)
    }
}
