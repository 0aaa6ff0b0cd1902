// The host's resolver for pen's DNS: getaddrinfo blocks, so a few worker threads of their own
// run it, and each result comes back to the relay's loop through a pipe (the loop never
// blocks on a lookup). Bounded: at most `maxUnfinished` lookups queued or running (the relay
// answers SERVFAIL past it); a lookup the loop stopped waiting for still counts until its
// worker returns. Names are asked as absolute (a trailing dot: no search domains).
import Foundation
import CHostSys
import Glibc
import PenCore
import PenIO

final class DNSResolverPool: @unchecked Sendable {
    /// A lookup: the name (lower-cased, no trailing dot) and the record type → pen's answer.
    typealias Resolve = @Sendable (_ name: [UInt8], _ type: UInt16) -> DNSQuestion.Answer

    static let maxUnfinished = 64
    static let workers = 4
    /// The TTL pen's answers carry (getaddrinfo does not tell the upstream's).
    static let answerTTL: UInt32 = 60

    /// Readable when results wait (one byte per result).
    private let wake = WakePipe()
    /// The relay's loop polls it: results arrived.
    var wakeFD: Int32 { wake.readEnd }
    private let resolve: Resolve
    private let condition = NSCondition()
    private var jobs: [(token: UInt64, name: [UInt8], type: UInt16)] = []
    private var results: [(token: UInt64, answer: DNSQuestion.Answer)] = []
    private var unfinishedCount = 0
    private var stopping = false

    init(resolve: @escaping Resolve = DNSResolverPool.systemResolve) {
        self.resolve = resolve
    }

    /// Starts the workers (stopped by `stop`).
    func start() {
        for _ in 0..<Self.workers {
            // Each worker holds the pool: its pipe is closed only once every worker has returned.
            let thread = Thread { [self] in work() }
            thread.name = "pen-dns"
            thread.start()
        }
    }

    var unfinished: Int { condition.lock(); defer { condition.unlock() }; return unfinishedCount }

    /// Queues a lookup; false when `maxUnfinished` are already queued or running.
    func submit(token: UInt64, name: [UInt8], type: UInt16) -> Bool {
        condition.lock()
        guard unfinishedCount < Self.maxUnfinished, !stopping else { condition.unlock(); return false }
        unfinishedCount += 1
        jobs.append((token, name, type))
        condition.signal()
        condition.unlock()
        return true
    }

    /// The results that arrived (drains the pipe).
    func take() -> [(token: UInt64, answer: DNSQuestion.Answer)] {
        wake.drain()
        condition.lock()
        defer { condition.unlock() }
        let taken = results
        results = []
        return taken
    }

    /// Workers return once their lookup (if any) ends; queued lookups are dropped.
    func stop() {
        condition.lock()
        stopping = true
        unfinishedCount -= jobs.count
        jobs = []
        condition.broadcast()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if stopping { condition.unlock(); return }
            let job = jobs.removeFirst()
            condition.unlock()
            let answer = resolve(job.name, job.type)
            condition.lock()
            unfinishedCount -= 1
            results.append((job.token, answer))
            let tell = !stopping
            condition.unlock()
            if tell { wake.poke() }
        }
    }

    /// getaddrinfo for the absolute name, A or AAAA as asked; other types get no records.
    @Sendable static func systemResolve(_ name: [UInt8], _ type: UInt16) -> DNSQuestion.Answer {
        guard type == DNSQuestion.a || type == DNSQuestion.aaaa else { return .addresses([], ttl: answerTTL) }
        var hints = addrinfo()
        hints.ai_family = type == DNSQuestion.a ? AF_INET : AF_INET6
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(String(decoding: name, as: UTF8.self) + ".", nil, &hints, &list)
        defer { if list != nil { freeaddrinfo(list) } }
        switch code {
        case 0: break
        case EAI_NONAME: return .noSuchName
        case -5, -9: return .addresses([], ttl: answerTTL)  // EAI_NODATA, EAI_ADDRFAMILY: no records of this family
        default: return .failure
        }
        var found: [IPAddress] = []
        var entry = list
        while let current = entry?.pointee {
            if let raw = current.ai_addr {
                if current.ai_family == AF_INET {
                    let bytes = raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in withUnsafeBytes(of: p.pointee.sin_addr) { Array($0) } }
                    found.append(IPAddress(destination: bytes)!)
                } else if current.ai_family == AF_INET6 {
                    let bytes = raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) } }
                    found.append(IPAddress(ipv6: bytes))
                }
            }
            entry = current.ai_next
        }
        var seen = Set<IPAddress>()
        return .addresses(found.filter { seen.insert($0).inserted }, ttl: answerTTL)
    }
}
