// The supervisor's bookkeeping of who is connected and which session each holds in the guest:
// its clients, what the host counts of each guest session (SessionFlow), and the ids it hands
// out. The first-boot setup is a session from the start (setupSessionID); the host numbers the
// sessions it opens from the next id on, wrapping past the setup's.
import Foundation
import PenWire

struct SessionTable {
    /// At most this many connections at once; more are closed as they come.
    static let maxClients = 64

    private(set) var clients: [Client] = []
    /// What the host counts of each guest session, by guest id.
    private(set) var flows: [UInt32: SessionFlow] = [setupSessionID: SessionFlow()]
    private var nextID = setupSessionID + 1
    /// Whether any client ever opened a session (a VM nobody attached to stops on its own).
    private(set) var everHadSession = false

    var isFull: Bool { clients.count >= Self.maxClients }

    /// Sessions open now (their client attached, their end not reached).
    var sessionCount: Int { clients.filter { $0.session.map { !$0.ended } ?? false }.count }

    /// Clients that hold a session (ended or not): they hear the guest's notices.
    var inSession: [Client] { clients.filter { $0.session != nil } }

    mutating func add(_ client: Client) { clients.append(client) }

    mutating func removeDone() { clients.removeAll { $0.isDone } }

    mutating func removeAll() { clients = [] }

    /// Gives `client` a new session in the guest (not opened there yet).
    mutating func open(_ request: SessionRequest, for client: Client) -> ClientSession {
        let session = ClientSession(guestID: nextID, request: request)
        nextID = nextID == UInt32.max ? setupSessionID + 1 : nextID + 1
        flows[session.guestID] = SessionFlow()
        client.session = session
        everHadSession = true
        return session
    }

    func flow(_ id: UInt32) -> SessionFlow? { flows[id] }

    /// The client whose session has this guest id.
    func client(ofSession id: UInt32) -> Client? {
        clients.first { $0.session?.guestID == id && !$0.link.closed }
    }

    /// Sessions whose end the guest reported, nothing is owed of and no client reads: forgotten.
    mutating func forgetFinished() {
        for (id, flow) in flows where flow.ended && flow.ackOwed == 0 && client(ofSession: id) == nil { flows[id] = nil }
    }
}
