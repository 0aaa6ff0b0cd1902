import Foundation
import PenIO
import PenTestSupport
import Testing
@testable import PenCore
@testable import PenSupervisor

/// The supervisor's QMP client against a QEMU the test plays on the other end of a socketpair:
/// what QEMU says is written up front (or by a thread, for more than the socket holds), what
/// the client sent is read back afterwards.
@Suite struct QMPClientTests {
    final class FakeQEMU: @unchecked Sendable {
        let client: QMPClient
        let server: Int32

        init() {
            Glibc.signal(SIGPIPE, SIG_IGN)
            var fds: [Int32] = [0, 0]
            socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
            client = QMPClient(fd: fds[0])
            server = fds[1]
        }

        deinit {
            close(client.fd)
            if server >= 0 { close(server) }
        }

        /// QEMU's lines, each ended by CRLF as QMP does.
        func says(_ lines: String...) {
            writeAll(server, Array(lines.map { $0 + "\r\n" }.joined().utf8))
        }

        /// Reads the next message with the descriptor that came with it (SCM_RIGHTS), as QEMU's
        /// `getfd` does; the message's text and the descriptor (-1 when none came).
        func receiveWithDescriptor() -> (text: String, fd: Int32) {
            var bytes = [UInt8](repeating: 0, count: 4096)
            // One cmsghdr (length, level, type) followed by one int, padded: CMSG_SPACE(4) on 64-bit Linux.
            var control = [UInt8](repeating: 0, count: 24)
            var p = pollfd(fd: server, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 5000) > 0 else { return ("", -1) }
            let n = bytes.withUnsafeMutableBytes { data in
                control.withUnsafeMutableBytes { cmsg in
                    var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
                    return withUnsafeMutablePointer(to: &vector) { vec in
                        var message = msghdr(msg_name: nil, msg_namelen: 0, msg_iov: vec, msg_iovlen: 1,
                                             msg_control: cmsg.baseAddress, msg_controllen: cmsg.count, msg_flags: 0)
                        return recvmsg(server, &message, 0)
                    }
                }
            }
            guard n > 0 else { return ("", -1) }
            let text = String(decoding: bytes[0..<n], as: UTF8.self)
            let header = control.withUnsafeBytes { $0.load(as: cmsghdr.self) }
            guard header.cmsg_level == SOL_SOCKET, header.cmsg_type == Int32(SCM_RIGHTS) else { return (text, -1) }
            return (text, control.withUnsafeBytes { $0.load(fromByteOffset: MemoryLayout<cmsghdr>.size, as: Int32.self) })
        }

        /// QEMU goes away: the client reads end of file.
        func hangsUp() { shutdown(server, Int32(SHUT_WR)) }

        /// The commands the client wrote so far, decoded (what has arrived; never blocks).
        func commandsReceived() -> [[String: Any]] {
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while case let n = recv(server, &chunk, chunk.count, Int32(MSG_DONTWAIT)), n > 0 { bytes += chunk[0..<n] }
            return bytes.split(separator: 0x0A).compactMap {
                try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any]
            }
        }
    }

    static let greeting = #"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}}"#
    var soon: Date { Date().addingTimeInterval(5) }


    @Test func greetingIsReadAndCapabilitiesAreNegotiatedBeforeAnyCommand() throws {
        let qemu = FakeQEMU()
        qemu.says(Self.greeting, #"{"return": {}}"#)
        try qemu.client.greet(deadline: soon)
        let sent = qemu.commandsReceived()
        #expect(sent.count == 1)
        #expect(sent.first?["execute"] as? String == "qmp_capabilities")
        #expect(sent.first?["arguments"] == nil)
    }

    @Test func somethingOtherThanAGreetingIsRefused() {
        let qemu = FakeQEMU()
        qemu.says(#"{"return": {}}"#)
        #expect(thrownMessage { try qemu.client.greet(deadline: soon) }.contains("QEMU's monitor did not greet"))
        #expect(qemu.commandsReceived().isEmpty)  // no negotiation with something that is not QEMU
    }

    @Test func aCommandIsSentWithItsArgumentsAndReturnsItsValue() throws {
        let qemu = FakeQEMU()
        qemu.says(#"{"return": {"status": "running", "running": true}}"#)
        let value = try qemu.client.execute("query-status", ["detail": 1], deadline: soon)
        #expect((value as? [String: Any])?["status"] as? String == "running")
        let sent = try #require(qemu.commandsReceived().first)
        #expect(sent["execute"] as? String == "query-status")
        #expect((sent["arguments"] as? [String: Any])?["detail"] as? Int == 1)
    }

    /// `getfd`: the descriptor travels with the command itself, so QEMU can use it (here: write to it).
    @Test func aDescriptorPassedWithACommandArrivesWithIt() throws {
        let qemu = FakeQEMU()
        var pipe: [Int32] = [0, 0]
        #expect(Glibc.pipe(&pipe) == 0)
        defer { close(pipe[0]) }
        qemu.says(#"{"return": {}}"#)
        try qemu.client.execute("getfd", ["fdname": "snapshot"], passing: pipe[1], deadline: soon)
        close(pipe[1])
        let (text, received) = qemu.receiveWithDescriptor()
        #expect(text.contains(#""fdname":"snapshot""#))
        #expect(received >= 0)
        guard received >= 0 else { return }
        #expect(write(received, "via qemu", 8) == 8)
        close(received)
        var got = [UInt8](repeating: 0, count: 16)
        let n = read(pipe[0], &got, got.count)
        #expect(n == 8 && String(decoding: got[0..<max(n, 0)], as: UTF8.self) == "via qemu")
    }

    @Test func eventsBeforeTheReplyAreSkippedAndBlankLinesIgnored() throws {
        let qemu = FakeQEMU()
        qemu.says(#"{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}"#, "",
                  #"{"event": "RESUME", "timestamp": {"seconds": 1, "microseconds": 3}}"#,
                  #"{"return": {"answer": 42}}"#)
        let value = try qemu.client.execute("query-x", deadline: soon)
        #expect((value as? [String: Any])?["answer"] as? Int == 42)
    }

    @Test func aReplyOverSeveralWritesIsPutTogether() throws {
        let qemu = FakeQEMU()
        let line = Array(#"{"return": {"split": "yes"}}"#.utf8) + [0x0D, 0x0A]
        let server = qemu.server
        let writer = Thread {
            for byte in line {
                writeAll(server, [byte])
                usleep(1000)
            }
        }
        writer.start()
        let value = try qemu.client.execute("query-split", deadline: soon)
        #expect((value as? [String: Any])?["split"] as? String == "yes")
    }

    @Test func twoRepliesInOneReadAnswerTwoCommandsInOrder() throws {
        let qemu = FakeQEMU()
        qemu.says(#"{"return": 1}"#, #"{"return": 2}"#)
        #expect(try qemu.client.execute("first", deadline: soon) as? Int == 1)
        #expect(try qemu.client.execute("second", deadline: soon) as? Int == 2)
    }

    @Test func anErrorReplyThrowsWithQEMUsDescription() {
        let qemu = FakeQEMU()
        qemu.says(#"{"event": "X"}"#, #"{"error": {"class": "GenericError", "desc": "No such device 'nope'"}}"#)
        #expect(thrownMessage {
            try qemu.client.execute("device_del", ["id": "nope"], deadline: soon)
        }.contains("QEMU refused device_del"))
        #expect(thrownMessage {
            qemu.says(#"{"error": {"class": "GenericError", "desc": "No such device 'nope'"}}"#)
            try qemu.client.execute("device_del", ["id": "nope"], deadline: soon)
        }.contains("No such device 'nope'"))
    }

    @Test func aMonitorThatClosesIsAnErrorNotAHang() {
        let qemu = FakeQEMU()
        qemu.says(#"{"event": "SHUTDOWN"}"#)
        qemu.hangsUp()
        #expect(thrownMessage { try qemu.client.execute("cont", deadline: soon) }.contains("QEMU's monitor closed"))
    }

    @Test(arguments: ["this is not json", "[1, 2, 3]", "\u{7f}\u{1}{\"return\""])
    func garbageIsRefused(_ line: String) {
        let qemu = FakeQEMU()
        qemu.says(line)
        #expect(thrownMessage { try qemu.client.execute("cont", deadline: soon) }.contains("not a QMP message"))
    }

    @Test func aMonitorThatNeverAnswersEndsAtTheDeadline() {
        let qemu = FakeQEMU()
        qemu.says(#"{"event": "STOP"}"#)  // talks, but never answers
        #expect(thrownMessage {
            try qemu.client.execute("stop", deadline: Date().addingTimeInterval(0.3))
        }.contains("did not answer in time"))
    }

    @Test func anEndlessLineIsCutOffAtTheMessageLimit() {
        let qemu = FakeQEMU()
        final class Flood: @unchecked Sendable { var written = 0 }
        let flood = Flood()
        let done = DispatchSemaphore(value: 0)
        let server = qemu.server
        // More than the limit and no newline: the client must stop reading, not buffer it all.
        Thread {
            let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 65536)
            while flood.written < 4 * QMPClient.messageLimit, writeAll(server, chunk) { flood.written += chunk.count }
            done.signal()
        }.start()
        #expect(thrownMessage { try qemu.client.execute("cont", deadline: soon) }.contains("oversized message"))
        shutdown(qemu.client.fd, Int32(SHUT_RDWR))  // the writer's next write fails: it stops
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(flood.written < 4 * QMPClient.messageLimit, "the client read every byte offered")
    }
}
