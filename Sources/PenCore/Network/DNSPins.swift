// Which names pen's DNS tied to which addresses, for one VM: a connection to an address counts as
// one to those names (an `allow` rule names hosts, the guest connects to addresses). Bounded: at
// most `capacity` names, each with at most `addressesPerName`, and an address remembers at most
// `namesPerAddress` names (the latest): a guest that resolves thousands of names to one address
// cannot make each connection to it cost a scan of them all. The oldest answer goes first.
// An answer is remembered for at least `minimumSeconds`, whatever TTL the upstream gave, since
// programs keep addresses longer than DNS says.
import Foundation

public struct DNSPins: Sendable {
    public static let capacity = 4096
    public static let addressesPerName = 32
    public static let namesPerAddress = 16
    public static let minimumSeconds: Double = 600

    private var entries: [[UInt8]: (addresses: Set<IPAddress>, until: Date, order: UInt64)] = [:]
    /// The names each address was given as, latest last (at most `namesPerAddress`).
    private var byAddress: [IPAddress: [[UInt8]]] = [:]
    private var counter: UInt64 = 0

    public init() {}

    public var count: Int { entries.count }

    public mutating func remember(_ name: [UInt8], _ addresses: [IPAddress], ttl: UInt32, now: Date = Date()) {
        guard !addresses.isEmpty else { return }
        counter += 1
        let until = now.addingTimeInterval(max(Double(ttl), Self.minimumSeconds))
        let before = entries[name]?.addresses ?? []
        var known = before
        known.formUnion(addresses.prefix(Self.addressesPerName))
        if known.count > Self.addressesPerName { known = Set(addresses.prefix(Self.addressesPerName)) }
        entries[name] = (known, max(until, entries[name]?.until ?? until), counter)
        for dropped in before.subtracting(known) { unlink(name, from: dropped) }
        for address in known {
            var names = byAddress[address, default: []]
            names.removeAll { $0 == name }
            names.append(name)
            if names.count > Self.namesPerAddress { names.removeFirst(names.count - Self.namesPerAddress) }
            byAddress[address] = names
        }
        if entries.count > Self.capacity, let oldest = entries.min(by: { $0.value.order < $1.value.order }) {
            entries[oldest.key] = nil
            for address in oldest.value.addresses { unlink(oldest.key, from: address) }
        }
    }

    /// The names an unexpired answer tied to `address` (at most `namesPerAddress`).
    public func names(for address: IPAddress, now: Date = Date()) -> [[UInt8]] {
        (byAddress[address] ?? []).filter { name in
            guard let entry = entries[name] else { return false }
            return entry.until > now && entry.addresses.contains(address)
        }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    private mutating func unlink(_ name: [UInt8], from address: IPAddress) {
        guard var names = byAddress[address] else { return }
        names.removeAll { $0 == name }
        byAddress[address] = names.isEmpty ? nil : names
    }
}
