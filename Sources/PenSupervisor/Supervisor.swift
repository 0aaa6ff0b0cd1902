// One running VM's supervisor: it owns QEMU (and passt, and the VM's lock, which QEMU
// inherits), the control channel to the guest, and the socket clients reach the VM through.
// Each client connection is one session in the guest. Nothing here blocks: clients and the
// guest each have a queue, and a session's output is only acknowledged to the guest once its
// client took it, so one slow client throttles its own session and nothing else. Where the
// boot and a stop stand is its SupervisorState; who is connected, its SessionTable.
import Foundation
import PenCore
import CHostSys
import PenIO
import PenWire

public final class Supervisor {
    let plan: SupervisorPlan
    let log: (String) -> Void
    var vm: SupervisedVM
    var guest: FrameLink
    /// Starts the VM again (after a stalled boot, or cold after a failed restore); nil: never.
    let restartVM: ((SnapshotBoot) throws(PenError) -> SupervisedVM)?
    /// The boot's phase, the stop's, the once-only answers: changed only by `advance`.
    var state: SupervisorState
    var sessions = SessionTable()
    var bootLogCheckedAt = Date()
    var bootLogCapped = false
    /// Notices from a guest no session listened to yet (bounded), for the first session.
    var bootNotices: [Frame] = []
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
    /// The listener is not polled until then (accept ran out of descriptors).
    var acceptPausedUntil: Date?
    var stages: [String: UInt64] = [:]
    /// No session since then (for the idle timeout).
    var idleSince = Date()
    var archiveReceived: UInt64 = 0
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    /// The network relay of a VM under a policy (its own thread), and what it tells the loop.
    var relay: NetRelay?
    /// A copy of the `pen.net` port's supervisor end, for a relay started again (Supervisor+Network.swift).
    var netPortSpare: Int32?
    /// QEMU's monitor, greeted once (Supervisor+Suspend.swift).
    var monitorClient: QMPClient?
    /// A `pen vm suspend` waiting for the guest to get ready for the save.
    var pendingSuspend: PendingSuspend?
    /// The machine was saved and QEMU told to go: its exit is the suspend's end, not a crash.
    var suspendedForGood = false
    let relayNotices = RelayNotices()
    /// network.log, opened (never through a symlink) before the VM starts; each relay gets a copy.
    var networkLog: Int32?
    /// The policy as `pen vm net NAME allow|deny` changed it (nil: the plan's).
    var changedPolicy: NetworkPolicy?
    /// Published ports' listeners under the policy (the relay accepts on them).
    var publishedListeners: [PublishedListener] = []
    /// The most bytes ever queued at once (`queuedBytes`): what the bounds below promise.
    var peakQueuedBytes = 0

    /// After `shutdown`, the guest gets this long to power off before QEMU is killed.
    var shutdownGrace = 30.0
    /// A client that has not said hello within this long is closed.
    var helloTimeout = 10.0
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
        let booted: SupervisedVM
        let networkLog: Int32?
        var listeners: [PublishedListener] = []
        do {
            for port in plan.relay?.published ?? [] { listeners.append(try PublishedListener.bind(port)) }
            networkLog = try plan.relay.map { relay throws(PenError) in
                try SafeFiles.openNoFollow(relay.logPath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND)
            }
            // No fallback here: a restore reads the snapshot through the descriptor the choosing pen
            // verified (a racing prune cannot take it away), so any failure to start is the boot's.
            booted = try VMBoot.start(plan.spec, qemu: qemu, archivePath: plan.archivePath, keepOpen: keepOpen)
        } catch {
            close(listener)
            for published in listeners { close(published.fd) }
            run.removeSocket()
            throw error
        }
        let booting = plan
        self.init(plan: booting, vm: booted, listener: listener, run: run, signals: signals, log: log,
                  restart: { (mode: SnapshotBoot) throws(PenError) in
                      var spec = booting.spec
                      spec.snapshot = mode
                      let reason = mode == .cold && booting.spec.snapshot != .cold ? "the restore failed" : "the boot above stalled"
                      return try VMBoot.start(spec, qemu: qemu, archivePath: booting.archivePath, keepOpen: keepOpen,
                                              restartReason: reason)
                  }, networkLog: networkLog, published: listeners)
    }

    /// A supervisor of `vm`, already started: `listener` is its listening socket, `signals` a
    /// pipe carrying one byte per signal (a stop request).
    public init(plan: SupervisorPlan, vm: SupervisedVM, listener: Int32, run: RunDirectory, signals: Int32,
                log: @escaping (String) -> Void, restart: ((SnapshotBoot) throws(PenError) -> SupervisedVM)? = nil,
                networkLog: Int32? = nil, published: [PublishedListener] = []) {
        self.plan = plan
        self.networkLog = networkLog
        publishedListeners = published
        self.vm = vm
        restartVM = restart
        state = SupervisorState(mode: plan.spec.snapshot, restartable: restart != nil)
        self.listener = listener
        self.run = run
        self.signals = signals
        self.log = CappedLog(limit: plan.logLimit, write: log).write
        setNonBlocking(listener)
        guest = Self.link(to: vm)
        // A resumed guest's relay restarts its framing once told `resumed`: the host's starts after (on ready).
        if !plan.spec.snapshot.isResume { startRelay() }
        state.initialEffects.forEach(perform)  // the restored guest waits at its snapshot point
    }

    /// pen's end of the control channel.
    static func link(to vm: SupervisedVM) -> FrameLink {
        FrameLink(fd: vm.held.map { $0.release(vm.control) } ?? vm.control)
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

    /// QEMU is gone: every client learns it (those still in a session see the connection end
    /// without an exit status), and the socket goes.
    private func finish() {
        if state.boot.isBooting {
            let why = state.guestFailure.map { "guest init failed: \($0)" } ?? lastLines(of: plan.spec.qemuLogPath, count: 3)
            advance(.bootFailed(PenError("VM '\(plan.spec.name)' stopped while booting", cause: why.isEmpty ? nil : why,
                                         fix: "boot log: \(plan.spec.bootLogPath)")))
        }
        stopRelay()
        closeRelayPort()
        closePublishedListeners()
        takeRelayNotices()
        drainArchive()
        run.removeSocket()
        close(listener)
        drainClients()
        sessions.removeAll()
    }

    /// The status `pen vm ls` and a second session read.
    var status: SupervisorStatus {
        SupervisorStatus(pid: getpid(), startedAt: startedAt, ready: state.boot == .ready, stopping: state.isStopping,
                         detached: plan.detached, sessions: sessions.sessionCount, facts: facts, stages: stages,
                         boot: state.mode.label)
    }

    /// The boot's facts, with the rules as they are now.
    var facts: BootFacts {
        var facts = plan.facts
        if let changedPolicy { facts.allow = changedPolicy.rules }
        return facts
    }

    /// Every byte the supervisor holds for a peer (the guest, its clients).
    var queuedBytes: Int { sessions.clients.reduce(guest.queuedBytes) { $0 + $1.link.queuedBytes } }
}
