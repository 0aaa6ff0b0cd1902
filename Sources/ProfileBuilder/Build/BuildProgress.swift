// The live build log: every line goes to the log file; stderr shows named phases and the
// log, as one updating status line on a terminal and as plain lines otherwise.
import Foundation
import PenIO

import PenCore

final class BuildProgress {
    /// The build's output comes from the guest: a line without end or a log without end must
    /// cost the host a bounded amount of memory and disk.
    static let maxLineBytes = 16 << 10
    static let maxLogBytes = 64 << 20
    /// Phases are named by the builder script's lines (the guest's output, so bounded too: they
    /// end up in the image's record).
    static let maxPhases = 32
    static let maxPhaseNameBytes = 80

    private let log: Int32
    private let profile: String
    private let terminal: Bool
    private(set) var partial: [UInt8] = []
    private(set) var loggedBytes = 0
    private var logCut = false
    private(set) var lastLines: [String] = []
    private(set) var phase = "booting the builder VM"
    private(set) var phases: [(name: String, seconds: Double)] = []
    private var phaseStarted = Date()

    init(logPath: String, profile: String) throws {
        log = open(logPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw PenError.system("cannot create \(logPath)") }
        self.profile = profile
        terminal = isatty(2) == 1
        show("pen: building profile '\(profile)': \(phase)")
    }

    deinit { close(log) }

    func receive(_ bytes: [UInt8]) {
        if !logCut {
            let room = Self.maxLogBytes - loggedBytes
            writeAll(log, Array(bytes.prefix(room)))
            loggedBytes += min(room, bytes.count)
            if bytes.count > room {
                logCut = true
                writeAll(log, Array("\n--- pen: the build log passed \(Self.maxLogBytes >> 20) MiB; the rest was dropped\n".utf8))
            }
        }
        partial += bytes
        var start = partial.startIndex  // one pass over the chunk, however many lines it holds
        while let newline = partial[start...].firstIndex(of: 0x0a) {
            let line = String(decoding: partial[start..<newline].prefix(Self.maxLineBytes), as: UTF8.self)
            start = newline + 1
            handle(line.replacingOccurrences(of: "\r", with: ""))
        }
        partial.removeSubrange(..<start)
        if partial.count > Self.maxLineBytes {  // a line without end: what fits, as a line of its own
            handle(String(decoding: partial.prefix(Self.maxLineBytes), as: UTF8.self))
            partial.removeAll(keepingCapacity: false)
        }
    }

    func enter(_ name: String) {
        phases.append((phase, Date().timeIntervalSince(phaseStarted)))
        phase = name
        phaseStarted = Date()
        show("pen: building profile '\(profile)': \(name)")
    }

    func finish() {
        phases.append((phase, Date().timeIntervalSince(phaseStarted)))
        if terminal { FileHandle.standardError.write(Data("\r\u{1b}[K".utf8)) }
    }

    private func handle(_ line: String) {
        lastLines.append(line)
        if lastLines.count > 12 { lastLines.removeFirst() }
        let name = line.dropFirst(BuilderScript.phasePrefix.count)
        if line.hasPrefix(BuilderScript.phasePrefix) && !line.hasPrefix(BuilderScript.buildFailedPrefix),
           phases.count < Self.maxPhases, name.utf8.count <= Self.maxPhaseNameBytes {
            enter(String(name))
        } else if terminal {
            show("pen: building profile '\(profile)': \(phase): \(line)")
        } else {
            FileHandle.standardError.write(Data("  | \(line)\n".utf8))
        }
    }

    private func show(_ text: String) {
        if terminal {
            let width = Int(RawTerminal.windowSize(fd: 2)?.cols ?? 80)
            FileHandle.standardError.write(Data("\r\u{1b}[K\(text.prefix(max(20, width - 1)))".utf8))
        } else {
            FileHandle.standardError.write(Data((text + "\n").utf8))
        }
    }
}
