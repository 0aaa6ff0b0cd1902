// One running VM's supervisor: it owns QEMU (and passt, and the VM's lock, which QEMU
// inherits), the control channel to the guest, and the socket clients reach the VM through.
// Each client connection is one session in the guest. Nothing here blocks: clients and the
// guest each have a queue, and a session's output is only acknowledged to the guest once its
// client took it, so one slow client throttles its own session and nothing else.
import Foundation
import PenCore
import CHostSys
import PenIO
import PenWire

/// What a supervisor runs: QEMU (or, in tests, something that stands in for it), pen's end of
/// the control channel, and a builder's archive port with the file it is copied to.
public struct SupervisedVM {
    public var process: VMProcess
    public var control: Int32
    public var archive: (port: Int32, file: Int32)?
    /// pen's end of QEMU's QMP monitor, when a boot snapshot is to be saved.
    public var monitor: Int32?
    /// Descriptors that must stay open while the VM runs (passt's, the wiring's leftovers).
    var held: Descriptors?
    /// passt, reaped when this VM is dropped.
    var passt: ChildProcess?

    public init(process: VMProcess, control: Int32, archive: (port: Int32, file: Int32)? = nil, monitor: Int32? = nil) {
        self.process = process
        self.control = control
        self.archive = archive
        self.monitor = monitor
    }

    init(_ booted: BootedVM) {
        self.init(process: booted.process, control: booted.control, archive: booted.archive, monitor: booted.monitor)
        held = booted.held
        passt = booted.passt
    }
}

public final class Supervisor {
    let plan: SupervisorPlan
    let log: (String) -> Void
    var vm: SupervisedVM
    var guest: FrameLink
    /// Starts the VM again (after a stalled boot, or cold after a failed restore); nil: never.
    let restartVM: ((SnapshotBoot) throws(PenError) -> SupervisedVM)?
    /// Whether the guest's init has said anything yet (it greets as soon as its channel opens).
    var guestHeard = false
    var bootLogCheckedAt = Date()
    var bootLogCapped = false
    /// Notices from a guest no session listened to yet (bounded), for the first session.
    var bootNotices: [Frame] = []
    var bootAttempts = 1
    /// How the running QEMU started (a failed restore falls back to a cold boot).
    var bootMode: SnapshotBoot
    /// The boot configuration went to the guest (a cold guest gets it at its snapshot point).
    var configSent = false
    /// The boot was declared failed (timed out, stalled for good): nothing is started again.
    var bootGivenUp = false
    /// When the running QEMU was started (a restart resets it).
    var vmStartedAt = Date()
    let listener: Int32
    let run: RunDirectory
    let signals: Int32
    let startedAt = Date()
    /// Where the boot timeout counts from: the start, moved on by a boot snapshot's save.
    var bootClockStart = Date()
    /// Told once: nil when the guest is ready, else why the boot failed.
    public var onBoot: ((PenError?) -> Void)?

    /// Since when the guest has had more queued for it than its bound (nil: it reads); past
    /// `guestStuckLimit` of that the VM is stopped (Supervisor+Flow: checkGuestReads).
    var guestStuckSince: Date?
    var guestStuckLimit = 30.0
    var clients: [Client] = []
    /// What the host counts of each guest session (0: the first-boot setup), by guest id.
    var flows: [UInt32: SessionFlow] = [setupSessionID: SessionFlow()]
    /// The listener is not polled until then (accept ran out of descriptors).
    var acceptPausedUntil: Date?
    var nextSession: UInt32 = 1
    var ready = false
    var stages: [String: UInt64] = [:]
    /// Shutdown asked for (by a signal, a client, the last session's end, the idle timer).
    var stopRequests = 0
    var shutdownSentAt: Date?
    /// The shutdown's deadline passed and QEMU was killed (the guest cannot move it).
    var shutdownForced = false
    /// The guest said it halted (answered with one goodbye).
    var halted = false
    /// This boot's guest got its clock and entropy (answered once: a guest asking again and again
    /// would otherwise have the host queue 16 bytes for each 1 it sends).
    var freshnessSent = false
    /// No session since then (for the idle timeout).
    var idleSince = Date()
    var everHadSession = false
    var archiveReceived: UInt64 = 0
    /// What the guest's init said when it failed (it powers off after): the first one only.
    var guestFatal: String?
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    /// The most bytes ever queued at once (`queuedBytes`): what the bounds below promise.
    var peakQueuedBytes = 0

    /// After `shutdown`, the guest gets this long to power off before QEMU is killed.
    var shutdownGrace = 30.0
    /// A client that has not said hello within this long is closed.
    var helloTimeout = 10.0
    /// At most this many connections at once; more are closed as they come.
    static let maxClients = 64
    /// After QEMU exited, clients get this long to take what is still queued for them.
    var drainTimeout = 60.0
    /// A VM started for a `pen shell` that never attached stops after this long alone.
    static let unattendedLimit = 60.0

    /// Listens on the run directory's socket, then starts the VM (QEMU, passt): the process's
    /// supervisor, stopped by SIGTERM, SIGINT or SIGHUP.
    public convenience init(plan: SupervisorPlan, qemu: QEMU, run: RunDirectory, keepOpen: [Int32],
                            log: @escaping (String) -> Void) throws(PenError) {
        let signals = try SignalPipe.shared()
        let listener = try run.listen()
        let booted: BootedVM
        do {
            // No fallback here: a restore reads the snapshot through the descriptor the choosing pen
            // verified (a racing prune cannot take it away), so any failure to start is the boot's.
            booted = try VMBoot.start(plan.spec, qemu: qemu, archivePath: plan.archivePath, keepOpen: keepOpen)
        } catch {
            close(listener)
            run.removeSocket()
            throw error
        }
        let booting = plan
        self.init(plan: booting, vm: SupervisedVM(booted), listener: listener, run: run, signals: signals, log: log,
                  restart: { (mode: SnapshotBoot) throws(PenError) in
                      var spec = booting.spec
                      spec.snapshot = mode
                      let reason = mode == .cold && booting.spec.snapshot != .cold ? "the restore failed" : "the boot above stalled"
                      return SupervisedVM(try VMBoot.start(spec, qemu: qemu, archivePath: booting.archivePath,
                                                           keepOpen: keepOpen, restartReason: reason))
                  })
    }

    /// A supervisor of `vm`, already started: `listener` is its listening socket, `signals` a
    /// pipe carrying one byte per signal (a stop request).
    public init(plan: SupervisorPlan, vm: SupervisedVM, listener: Int32, run: RunDirectory, signals: Int32,
                log: @escaping (String) -> Void, restart: ((SnapshotBoot) throws(PenError) -> SupervisedVM)? = nil) {
        self.plan = plan
        self.vm = vm
        restartVM = restart
        bootMode = plan.spec.snapshot
        self.listener = listener
        self.run = run
        self.signals = signals
        self.log = CappedLog(limit: plan.logLimit, write: log).write
        setNonBlocking(listener)
        guest = Self.link(to: vm)
        if case .restore = bootMode { sendConfig() }  // the restored guest waits at its snapshot point
    }

    /// pen's end of the control channel.
    static func link(to vm: SupervisedVM) -> FrameLink {
        FrameLink(fd: vm.held.map { $0.release(vm.control) } ?? vm.control)
    }

    /// The boot configuration, once per boot: a cold guest asks for it at its snapshot point.
    func sendConfig() {
        guard !configSent else { return }
        for frame in plan.boot.frames() { guest.send(frame) }
        guest.flush()
        configSent = true
    }

    /// Serves until QEMU has exited; returns its wait status.
    public func serve() -> Int32 {
        var status: Int32?
        while status == nil {
            status = pollOnce()
        }
        finish()
        return status!
    }

    // MARK: the loop

    private enum Source { case signals, guest, listener, client(Client), qemu, archive }

    private func pollOnce() -> Int32? {
        // Whoever is over its bound is not read: the guest while too much waits for it (its
        // replies would pile up), the clients too (their input is for it).
        let guestInput = guestOverBound ? 0 : Int16(POLLIN)
        var fds = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: guest.closed ? -1 : guest.fd,
                          events: guestInput | (guest.wantsWrite ? Int16(POLLOUT) : 0), revents: 0),
                   pollfd(fd: stopRequests > 0 || acceptPausedUntil != nil ? -1 : listener, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: vm.process.exitDescriptor, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: vm.archive?.port ?? -1, events: Int16(POLLIN), revents: 0)]
        var sources: [Source] = [.signals, .guest, .listener, .qemu, .archive]
        for client in clients {
            let read = client.wantsInput && !guestOverBound && hasRoom(client) ? Int16(POLLIN) : 0
            fds.append(pollfd(fd: client.link.fd, events: read | (client.link.wantsWrite ? Int16(POLLOUT) : 0), revents: 0))
            sources.append(.client(client))
        }
        let ready = poll(&fds, nfds_t(fds.count), timeoutMillis())
        if ready < 0 && errno != EINTR { log("pen: supervisor: poll: \(String(cString: strerror(errno)))") }
        for (i, source) in sources.enumerated() where fds[i].revents != 0 {
            switch source {
            case .signals: handleSignals()
            case .guest:
                if fds[i].revents & Int16(POLLOUT) != 0 { guest.flush() }
                if fds[i].revents & ~Int16(POLLOUT) != 0 { readGuest() }
            case .listener: acceptClients()
            case .client(let client): serviceClient(client, events: fds[i].revents)
            case .archive: receiveArchive()
            case .qemu:
                if let status = vm.process.exitStatus() {
                    if bootColdAfterFailedRestore() { return nil }
                    return status
                }
            }
        }
        clients.removeAll { $0.isDone }
        checkTimers()
        sendAcks()
        peakQueuedBytes = max(peakQueuedBytes, queuedBytes)
        return nil
    }

    private func timeoutMillis() -> Int32 {
        var wait = 60.0
        let now = Date()
        if !ready { wait = min(wait, bootClockStart.addingTimeInterval(plan.bootTimeout).timeIntervalSince(now)) }
        if !guestHeard { wait = min(wait, Self.stallCheckInterval) }
        wait = min(wait, bootLogCheckedAt.addingTimeInterval(Self.bootLogCheckInterval).timeIntervalSince(now))
        if let sent = shutdownSentAt, !shutdownForced { wait = min(wait, sent.addingTimeInterval(shutdownGrace).timeIntervalSince(now)) }
        if let paused = acceptPausedUntil { wait = min(wait, paused.timeIntervalSince(now)) }
        if let first = clients.filter({ !$0.greeted }).map(\.connectedAt).min() {
            wait = min(wait, first.addingTimeInterval(helloTimeout).timeIntervalSince(now))
        }
        // The idle timer counts only where checkTimers acts on it (else a passed deadline spins).
        if ready, stopRequests == 0, sessionCount == 0, let limit = idleLimit {
            wait = min(wait, idleSince.addingTimeInterval(limit).timeIntervalSince(now))
        }
        if let since = guestStuckSince { wait = min(wait, since.addingTimeInterval(guestStuckLimit).timeIntervalSince(now)) }
        return Int32(max(0, wait) * 1000) + 1
    }

    /// How long the VM may go without a session before it stops (nil: forever).
    private var idleLimit: Double? {
        if plan.detached { return plan.idleTimeout }
        return everHadSession ? nil : Self.unattendedLimit
    }

    private func checkTimers() {
        let now = Date()
        if !guestHeard { checkForStall() }
        capBootLog(now: now)
        if !ready && now >= bootClockStart.addingTimeInterval(plan.bootTimeout) {
            bootFailed(PenError("VM '\(plan.spec.name)' did not boot within \(Int(plan.bootTimeout)) s",
                                fix: "boot log: \(plan.spec.bootLogPath)"))
            vm.process.kill()
        }
        if let sent = shutdownSentAt, !shutdownForced, now >= sent.addingTimeInterval(shutdownGrace) {
            log("pen: VM '\(plan.spec.name)' did not power off within \(Int(shutdownGrace)) s; stopping it")
            vm.process.kill()
            shutdownForced = true
        }
        if let paused = acceptPausedUntil, now >= paused { acceptPausedUntil = nil }
        checkGuestReads(now: now)
        closeSilentClients(now: now)
        if ready, stopRequests == 0, sessionCount == 0, let limit = idleLimit, now >= idleSince.addingTimeInterval(limit) {
            log("pen: VM '\(plan.spec.name)' had no session for \(Int(limit)) s; stopping it")
            requestStop()
        }
    }

    private func handleSignals() {
        var byte: UInt8 = 0
        while read(signals, &byte, 1) == 1 {
            if Int32(byte) == SIGCHLD || Int32(byte) == SIGWINCH { continue }  // QEMU's exit is seen on its pidfd
            requestStop()
        }
    }

    /// First request: the guest ends every session and powers off (sent once it is ready: a
    /// booting init could not take it). Second: pull the plug.
    func requestStop() {
        stopRequests += 1
        if stopRequests > 1 {
            vm.process.kill()
        } else if ready {
            sendShutdown()
        }
        for client in clients where client.session != nil { client.link.send(Frame(.stopping)) }
    }

    /// Sent once: its deadline counts from then, whatever the guest sends meanwhile.
    func sendShutdown() {
        guard shutdownSentAt == nil else { return }
        guest.send(.status(.shutdown, SIGTERM))
        guest.flush()
        shutdownSentAt = Date()
    }

    func bootFailed(_ error: PenError) {
        bootGivenUp = true
        onBoot?(error)
        onBoot = nil
    }

    /// QEMU is gone: every client learns it (those still in a session see the connection end
    /// without an exit status), and the socket goes.
    private func finish() {
        if !ready {
            let why = guestFatal.map { "guest init failed: \($0)" } ?? lastLines(of: plan.spec.qemuLogPath, count: 3)
            bootFailed(PenError("VM '\(plan.spec.name)' stopped while booting", cause: why.isEmpty ? nil : why,
                                fix: "boot log: \(plan.spec.bootLogPath)"))
        }
        drainArchive()
        run.removeSocket()
        close(listener)
        drainClients()
        clients = []
    }

    /// The status `pen vm ls` and a second session read.
    var status: SupervisorStatus {
        SupervisorStatus(pid: getpid(), startedAt: startedAt, ready: ready, stopping: stopRequests > 0,
                         detached: plan.detached, sessions: sessionCount, facts: plan.facts, stages: stages,
                         boot: bootMode.label)
    }

    /// Every byte the supervisor holds for a peer (the guest, its clients).
    var queuedBytes: Int { clients.reduce(guest.queuedBytes) { $0 + $1.link.queuedBytes } }

    var sessionCount: Int { clients.filter { $0.session != nil && !$0.session!.ended }.count }
}
