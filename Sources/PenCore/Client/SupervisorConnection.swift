// A connection to a running VM's supervisor: finding it (waiting while it boots), asking for
// its status, opening a session, asking it to stop.
import Foundation
import PenIO
import PenWire

public final class SupervisorConnection {
    public let fd: Int32
    public private(set) var status: SupervisorStatus
    /// Reads the status reply; the descriptor goes on to a SessionClient, so it is not closed with it.
    private let link: FrameLink

    /// Connects to VM `vm`'s supervisor; nil when the VM is not running (or stops meanwhile:
    /// then once it is down). A VM whose lock is held but whose socket is not there yet is booting:
    /// that is waited for, up to `wait` seconds.
    public static func connect(_ vm: VMDirectory, wait: Double, acceptStopping: Bool = false) throws(PenError) -> SupervisorConnection? {
        let deadline = Date().addingTimeInterval(wait)
        while true {
            if let fd = try vm.run.connect() {
                let connection = try adopt(fd, vmName: vm.name.value)
                guard connection.status.stopping, !acceptStopping else { return connection }
                connection.close()
                waitUntilStopped(vm, seconds: 60)
                return nil
            }
            guard VMLock.isHeld(path: vm.lockPath) else { return nil }
            guard Date() < deadline else {
                throw PenError("VM '\(vm.name)' is locked but no supervisor answers",
                               fix: "check `pen vm ls`; stop it with `pen vm stop \(vm.name)`")
            }
            usleep(50_000)
        }
    }

    /// Waits (at most `seconds`) until the VM's lock is free: its supervisor and QEMU are gone.
    public static func waitUntilStopped(_ vm: VMDirectory, seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while VMLock.isHeld(path: vm.lockPath) && Date() < deadline { usleep(50_000) }
    }

    /// Greets the supervisor on an open connection and reads its status.
    public static func adopt(_ fd: Int32, vmName: String) throws(PenError) -> SupervisorConnection {
        try SupervisorConnection(fd: fd, vmName: vmName)
    }

    private init(fd: Int32, vmName: String) throws(PenError) {
        self.fd = fd
        link = FrameLink(fd: fd, ownsDescriptor: false)
        status = SupervisorStatus(pid: 0, startedAt: Date(), ready: false, stopping: false, detached: false, sessions: 0,
                                  facts: BootFacts(profile: "", cpus: 0, memoryMiB: 0, workspace: nil, published: [],
                                                   accelerator: .tcg), stages: [:])
        do {
            try send([.hello, Frame(.status)])
            let reply = try receive(within: 10)
            guard reply.kind == .statusReport else {
                throw PenError("VM '\(vmName)' refused this pen", cause: reply.text)
            }
            do { status = try PenJSON.decode(SupervisorStatus.self, from: Data(reply.payload)) } catch {
                throw PenError("VM '\(vmName)' sent an unreadable status", cause: "\(error)")
            }
        } catch let error as PenError {
            Glibc.close(fd)
            throw error
        } catch {
            Glibc.close(fd)
            throw PenError(error)
        }
    }

    /// Asks for a session; the caller hands `fd` to a SessionClient.
    public func open(_ request: SessionRequest) throws(PenError) {
        try send([.open(connectionSessionID, request)])
    }

    /// Asks the VM to shut down without waiting; asked twice, the supervisor pulls the plug.
    public func requestStop() {
        try? send([Frame(.shutdown)])
    }

    /// Asks the VM to shut down, and waits (at most `seconds`) until its supervisor is gone. A
    /// stop signal on `signals` (Ctrl-C) ends the wait too; it stays in the pipe for the caller.
    public func stopVM(seconds: Double, signals: Int32? = SignalPipe.current) {
        try? send([Frame(.shutdown)])
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return }
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: signals ?? -1, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 2, Int32(min(left, 1) * 1000) + 1) >= 0 || errno == EINTR else { return }
            if let signals, fds[1].revents != 0 {
                let stops = SignalPipe.drainStops(signals)
                if !stops.isEmpty {
                    if signals == SignalPipe.current { SignalPipe.redeliver(stops) }
                    return
                }
            }
            guard fds[0].revents != 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))  // never blocks, whatever poll said
            if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) { return }
        }
    }

    /// Changes the running VM's network rules (`pen vm net NAME allow|deny RULE`): the VM's status
    /// after the change, or the supervisor's refusal as the error.
    public func change(_ change: PolicyChange) throws(PenError) -> SupervisorStatus {
        let body: Data
        do { body = try PenJSON.encode(change) } catch { throw PenError("cannot encode the change: \(error)") }
        try send([Frame(.policyChange, Array(body))])
        let reply = try receive(within: 10)
        guard reply.kind == .statusReport else { throw PenError(reply.text) }
        do { return try PenJSON.decode(SupervisorStatus.self, from: Data(reply.payload)) } catch {
            throw PenError("the VM's supervisor sent an unreadable status", cause: "\(error)")
        }
    }

    /// `pen vm suspend`: the machine saved and QEMU gone. Returns the state's size and the save's
    /// seconds; the supervisor's refusal (sessions attached, /workspace in use, …) is the error.
    public func suspend(force: Bool, seconds: Double) throws(PenError) -> (bytes: UInt64, seconds: Double) {
        try send([Frame(.suspendVM, text: force ? "force" : "")])
        let reply = try receive(within: seconds)
        guard reply.kind == .suspended else { throw PenError(reply.kind == .fatal ? reply.text : "the VM's supervisor answered \(reply.kind)") }
        let words = reply.text.split(separator: " ")
        guard words.count == 2, let bytes = UInt64(words[0]), let took = Double(words[1]) else {
            throw PenError("the VM's supervisor sent an unreadable answer to the suspend")
        }
        // The supervisor goes with QEMU: its socket closes then.
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 1000) >= 0 || errno == EINTR else { break }
            guard p.revents != 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) { break }
        }
        return (bytes, took)
    }

    public func close() { Glibc.close(fd) }

    private func send(_ frames: [Frame]) throws(PenError) {
        guard writeAll(fd, frames.flatMap { $0.encoded() }) else { throw PenError.system("cannot talk to the VM's supervisor") }
    }

    private func receive(within seconds: Double) throws(PenError) -> Frame {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let frame: Frame?
        do { frame = try link.next(within: Int(seconds * 1000), &buffer) } catch {
            throw PenError("the VM's supervisor sent a malformed frame", cause: error.description)
        }
        if let frame { return frame }
        if link.closed { throw PenError("the VM's supervisor closed the connection") }
        throw PenError("the VM's supervisor did not answer within \(Int(seconds)) s")
    }
}
