// The guest's module order file, read: which modules to load, in which order, and which must
// be loaded before which. The init loads independent modules side by side (one per vCPU);
// the scheduling decision is here, pure, so the host's tests cover it.

public struct ModuleLoadPlan: Sendable, Equatable {
    public enum State: Sendable, Equatable { case waiting, loading, loaded, failed }

    public let names: [String]
    /// For each module, the indices of the modules it needs (always earlier in the file).
    public let needs: [[Int]]
    public private(set) var states: [State]

    /// Lines of "NAME [NEEDED…]"; a needed module not listed (built in, or loaded in another
    /// phase) is no constraint. Only the modules `including` accepts are planned.
    public init(orderFile text: String, including: (String) -> Bool = { _ in true }) {
        var names: [String] = []
        var index: [String: Int] = [:]
        var needs: [[Int]] = []
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            guard let name = words.first, index[name] == nil, including(name) else { continue }
            needs.append(words.dropFirst().compactMap { index[$0] })
            index[name] = names.count
            names.append(name)
        }
        self.names = names
        self.needs = needs
        states = Array(repeating: .waiting, count: names.count)
    }

    /// The first waiting module whose needs are loaded, now marked loading; nil when none is.
    public mutating func take() -> Int? {
        guard let next = states.indices.first(where: { i in
            states[i] == .waiting && needs[i].allSatisfy { states[$0] == .loaded }
        }) else { return nil }
        states[next] = .loading
        return next
    }

    public mutating func finish(_ module: Int, loaded: Bool) {
        states[module] = loaded ? .loaded : .failed
    }

    /// Nothing is left to start: every module loaded, or one failed and nothing is loading.
    public var isSettled: Bool {
        if states.contains(.failed) { return !states.contains(.loading) }
        return states.allSatisfy { $0 == .loaded }
    }
}
