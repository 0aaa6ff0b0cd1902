// Stage 3: hostname, loopback, and the guest's interface with the fixed addresses of the guest
// contract: eth0 when the VM has a network device; with the network policy, dummy0 (nothing
// sent on it leaves the VM) and the redirect that sends TCP and DNS to the init's listeners.
import CGuestSys
import Glibc
import PenWire

enum Network {
    static let stage = "network"

    static func configure(hostname: String, policy: Bool) throws(InitFailure) {
        let net = GuestContract.Network.self
        try sys(sethostname(hostname, hostname.utf8.count), stage, "sethostname")
        try sys(pen_if_up("lo", "127.0.0.1", "255.0.0.0"), stage, "bring up lo")
        if policy {
            try configurePolicyInterface()
        } else {
            if let err = InterfaceLink.delete(net.policyInterface) { throw .sys(stage, "remove \(net.policyInterface)", err) }
            guard Files.exists("/sys/class/net/eth0") else { return }  // a VM without a network device
            try sys(pen_if_up("eth0", net.guest, net.netmask), stage, "configure eth0")
            try sys(pen_add_default_route(net.gateway), stage, "default route")
        }
        // Replaced, not written through: any of them may be a symlink the guest's packages made.
        try Files.replace("/etc/resolv.conf", "nameserver \(net.resolver)\n")
        try Files.replace("/etc/hostname", hostname + "\n")
        try Files.replace("/etc/hosts", "127.0.0.1 localhost\n127.0.1.1 \(hostname)\n::1 localhost ip6-localhost ip6-loopback\n")
    }

    /// dummy0 (made by the `dummy` module) with the guest's addresses and both default routes,
    /// so every connect has a route; then the redirect to the listeners NetRelay opens.
    static func configurePolicyInterface() throws(InitFailure) {
        let net = GuestContract.Network.self
        let device = net.policyInterface
        guard if_nametoindex(device) != 0 else { throw InitFailure(stage, "no \(device): is the dummy module in the image?") }
        try sys(pen_if_up(device, net.guest, net.netmask), stage, "configure \(device)")
        if let err = InterfaceAddress.addIPv6(net.guest6, prefixLength: 64, to: device) { throw .sys(stage, "IPv6 address on \(device)", err) }
        try sys(pen_add_default_route(net.gateway), stage, "default route")
        try sys(pen_add_default_route6(device), stage, "IPv6 default route")
        if let failure = NetworkRedirect.install(tcpPort: net.policyTCPPort, dnsPort: net.policyDNSPort) {
            throw .sys(stage, "install the redirect (message \(failure.sequence))", failure.errno)
        }
    }
}
