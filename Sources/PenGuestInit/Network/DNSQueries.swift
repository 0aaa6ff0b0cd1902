// The DNS queries the relay sent to the host and not yet answered: for each, the socket it came
// in on and its sender, so the answer goes back the way the query came (the redirect then gives
// it the resolver's address as its source). Bounded: at most `limit` at once, each forgotten
// after `lifetime` (a program retries a query nobody answered).
import Glibc

struct DNSQueries {
    struct Query {
        let socket: Int32
        let sender: sockaddr_storage
        let senderLength: socklen_t
        let deadline: UInt64
    }

    static let limit = 256
    static let lifetime: UInt64 = 10_000_000  // µs

    private var pending: [UInt32: Query] = [:]
    private var nextID: UInt32 = 1

    var count: Int { pending.count }
    var isFull: Bool { pending.count >= Self.limit }

    /// Remembers a query; its id, or nil when `limit` are pending already.
    mutating func add(socket: Int32, sender: sockaddr_storage, senderLength: socklen_t, now: UInt64) -> UInt32? {
        guard !isFull else { return nil }
        while pending[nextID] != nil { nextID &+= 1 }
        let id = nextID
        nextID &+= 1
        pending[id] = Query(socket: socket, sender: sender, senderLength: senderLength, deadline: now + Self.lifetime)
        return id
    }

    /// The query `id` answers, forgotten as it is returned.
    mutating func take(_ id: UInt32) -> Query? { pending.removeValue(forKey: id) }

    mutating func expire(now: UInt64) {
        pending = pending.filter { $0.value.deadline > now }
    }

    var nextDeadline: UInt64? { pending.values.map(\.deadline).min() }
}
