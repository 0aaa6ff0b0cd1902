// Which names pen's DNS tied to which addresses, for one VM: a connection to an address counts as
// one to those names (an `allow` rule names hosts, the guest connects to addresses). Bounded: at
// most `capacity` names, each with at most `addressesPerName`; the oldest answer goes first.
// An answer is remembered for at least `minimumSeconds`, whatever TTL the upstream gave, since
// programs keep addresses longer than DNS says.
import Foundation

public struct DNSPins: Sendable {
    public static let capacity = 4096
    public static let addressesPerName = 32
    public static let minimumSeconds: Double = 600

    private var entries: [[UInt8]: (addresses: Set<IPAddress>, until: Date, order: UInt64)] = [:]
    private var counter: UInt64 = 0

    public init() {}

    public var count: Int { entries.count }

    public mutating func remember(_ name: [UInt8], _ addresses: [IPAddress], ttl: UInt32, now: Date = Date()) {
        guard !addresses.isEmpty else { return }
        counter += 1
        let until = now.addingTimeInterval(max(Double(ttl), Self.minimumSeconds))
        var known = entries[name]?.addresses ?? []
        known.formUnion(addresses.prefix(Self.addressesPerName))
        if known.count > Self.addressesPerName { known = Set(addresses.prefix(Self.addressesPerName)) }
        entries[name] = (known, max(until, entries[name]?.until ?? until), counter)
        if entries.count > Self.capacity, let oldest = entries.min(by: { $0.value.order < $1.value.order })?.key {
            entries[oldest] = nil
        }
    }

    /// The names an unexpired answer tied to `address`.
    public func names(for address: IPAddress, now: Date = Date()) -> [[UInt8]] {
        entries.compactMap { name, entry in entry.until > now && entry.addresses.contains(address) ? name : nil }
            .sorted { $0.lexicographicallyPrecedes($1) }
    }
}
