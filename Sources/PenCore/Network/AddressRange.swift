// A range of addresses as a rule writes it: `10.1.2.0/24`, `2001:db8::/32`, or one address.
// The address must be the range's first (no host bits), so what a user wrote is what it holds.

public struct AddressRange: Hashable, Sendable, CustomStringConvertible {
    public let base: IPAddress
    public let prefixLength: Int

    /// `base/prefixLength`; nil when the prefix is out of range or `base` has host bits set.
    public init?(_ base: IPAddress, prefixLength: Int) {
        guard (0...base.width).contains(prefixLength), Self.masked(base, prefixLength) == base else { return nil }
        self.base = base
        self.prefixLength = prefixLength
    }

    /// One address (a /32 or /128).
    public init(_ address: IPAddress) {
        base = address
        prefixLength = address.width
    }

    public func contains(_ address: IPAddress) -> Bool {
        address.isIPv4 == base.isIPv4 && Self.masked(address, prefixLength) == base
    }

    public var description: String {
        prefixLength == base.width ? base.description : "\(base)/\(prefixLength)"
    }

    /// `address` with every bit past the first `length` cleared.
    static func masked(_ address: IPAddress, _ length: Int) -> IPAddress {
        switch address {
        case .v4(let n):
            return .v4(length == 0 ? 0 : n & ~UInt32(0) << (32 - length))
        case .v6(let hi, let lo):
            let hiMask: UInt64 = length >= 64 ? ~0 : (length == 0 ? 0 : ~UInt64(0) << (64 - length))
            let loMask: UInt64 = length <= 64 ? 0 : (length == 128 ? ~0 : ~UInt64(0) << (128 - length))
            return .v6(hi & hiMask, lo & loMask)
        }
    }
}
