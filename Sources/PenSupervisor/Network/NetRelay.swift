// The host's side of the `pen.net` port: every TCP connection and DNS query of a VM under a
// network policy arrives here, is decided by `NetworkPolicy`, and is carried (or refused) by
// the supervisor. It runs on a thread of its own with its own poll loop, so a guest flooding
// the network cannot starve the sessions on `pen.ctl`, nor they it. The guest is hostile: every
// stream's bytes are bounded by its window, the streams by `maxNetStreams`, the DNS lookups by
// the resolver pool, the frames waiting for the guest by `maxQueuedForGuest`.
import CHostSys
import Foundation
import PenCore
import PenIO
import PenWire

public final class NetRelay: @unchecked Sendable {
    /// What the relay needs besides the port: the policy, what the host is, where it logs.
    public struct Configuration: Sendable {
        public var policy: NetworkPolicy
        public var host: PolicyHost
        /// network.log's path; nil: none.
        public var logPath: String?
        /// network.log opened already (the relay owns it); wins over `logPath`.
        public var logDescriptor: Int32?
        public var logLimit: UInt64
        /// Published ports' listeners (the supervisor's: the relay only accepts on them).
        var published: [PublishedListener] = []

        public init(policy: NetworkPolicy, host: PolicyHost, logPath: String?, logLimit: UInt64 = SupervisorPlan.defaultLogLimit) {
            self.policy = policy
            self.host = host
            self.logPath = logPath
            self.logLimit = logLimit
        }
    }

    /// The guest is not read while this much waits to be written to it (its replies would pile up).
    static let maxQueuedForGuest = 1 << 20
    /// How long a DNS query may wait for its answer before it gets SERVFAIL.
    static let dnsDeadline = 5.0

    /// Read and changed on the relay's thread only; a new policy arrives through `update`.
    var configuration: Configuration
    var policy: NetworkPolicy { configuration.policy }
    let guest: FrameLink
    let log: NetworkLog
    let onRefusal: @Sendable (String) -> Void
    let onFatal: @Sendable (String) -> Void
    /// Whether the host's own networks are refused (the kernel's route for each destination);
    /// tests replace it only where their servers sit on loopback.
    let routeRefusal: @Sendable (IPAddress) -> String?
    let resolver: DNSResolverPool
    var streams: [UInt32: NetStream] = [:]
    var pins = DNSPins()
    /// DNS lookups the loop waits for: the resolver's token → the query.
    var lookups: [UInt64: (question: DNSQuestion, reply: DNSReply, until: Date)] = [:]
    var nextToken: UInt64 = 0
    var nextInbound = inboundStreamBase
    var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    var running = true

    private let wake = WakePipe()
    /// `update`'s hand-over: the next policy, under its lock, and the pipe that wakes the loop for it.
    private let policyLock = NSLock()
    private var nextPolicy: NetworkPolicy?
    let policyWake = WakePipe()
    private let finished = DispatchSemaphore(value: 0)
    private var thread: Thread?

    /// `port`: the supervisor's end of pen.net (the relay owns and closes it). `onRefusal` says
    /// each refusal in words for the attached shell; `onFatal` says why the relay stopped when
    /// the guest broke the framing (the supervisor then stops the VM). Both are called on the
    /// relay's thread.
    public convenience init(port: Int32, configuration: Configuration,
                            onRefusal: @escaping @Sendable (String) -> Void = { _ in },
                            onFatal: @escaping @Sendable (String) -> Void = { _ in }) {
        self.init(port: port, configuration: configuration, onRefusal: onRefusal, onFatal: onFatal,
                  resolve: DNSResolverPool.systemResolve, routeRefusal: HostRoute.refusal)
    }

    /// With the host's resolver and route check replaced (tests).
    init(port: Int32, configuration: Configuration,
         onRefusal: @escaping @Sendable (String) -> Void, onFatal: @escaping @Sendable (String) -> Void,
         resolve: @escaping DNSResolverPool.Resolve, routeRefusal: @escaping @Sendable (IPAddress) -> String?) {
        self.configuration = configuration
        guest = FrameLink(fd: port)
        log = NetworkLog(descriptor: configuration.logDescriptor, path: configuration.logPath, limit: configuration.logLimit) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        self.onRefusal = onRefusal
        self.onFatal = onFatal
        self.routeRefusal = routeRefusal
        resolver = DNSResolverPool(resolve: resolve)
    }

    public func start() {
        resolver.start()
        let thread = Thread { [self] in
            while running { pollOnce(wake: wake.readEnd) }
            shutDown()
            finished.signal()
        }
        thread.name = "pen-net"
        self.thread = thread
        thread.start()
    }

    /// From any thread: the policy later decisions are made by (streams already open stay).
    public func update(_ policy: NetworkPolicy) {
        policyLock.withLock { nextPolicy = policy }
        policyWake.poke()
    }

    /// On the relay's thread: takes a policy `update` handed over.
    func takeNewPolicy() {
        policyWake.drain()
        if let policy = policyLock.withLock({ () -> NetworkPolicy? in defer { nextPolicy = nil }; return nextPolicy }) {
            configuration.policy = policy
        }
    }

    /// Ends the loop and closes every stream (the port closes with the relay); returns once the thread has (at most a few seconds).
    /// From the relay's own thread (a callback) it only ends the loop, which ends after the callback.
    public func stop() {
        guard let thread else { return }
        if Thread.current === thread { running = false; return }
        wake.poke()
        _ = finished.wait(timeout: .now() + 5)
        self.thread = nil
    }

    private func shutDown() {
        for stream in Array(streams.values) { end(stream, verdict: "allowed", reason: "the relay stopped") }
        streams = [:]
        resolver.stop()
        guest.markClosed()
    }
}
