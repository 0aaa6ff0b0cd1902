// What host and guest agree on besides the frames themselves: the names of the devices pen
// attaches, where the guest mounts what, and the fixed addresses of the guest's network.
// Each is defined here once; the host's QEMU arguments and image builder and the guest's
// init read them from this file, so the two sides cannot drift apart.

public enum GuestContract {
    /// The virtio-serial port that carries the control channel's frames.
    public static let controlPort = "pen.ctl"
    /// The virtio-serial port a builder VM streams its root over as a tar.
    public static let archivePort = "pen.out"
    /// The virtio-serial port that carries the guest's connections and DNS queries to the host
    /// when its network goes through pen (see NetFrame.swift). Every VM has it.
    public static let networkPort = "pen.net"

    /// The block devices pen attaches, told apart by their virtio serial: the read-only root image
    /// (the overlay's lower layer) and the VM's writable overlay disk (its upper layer).
    public static let rootImageSerial = "pen-root"
    public static let overlaySerial = "pen-overlay"

    /// The 9p mount tag of the shared host directory, and where the guest mounts it.
    public static let workspaceTag = "workspace"
    public static let workspaceMountPoint = "/workspace"

    /// The guest init's path inside the initrd (the kernel's `rdinit=`).
    public static let initPath = "/init"
    /// On the kernel command line (which hands it to init's environment): the init traces its
    /// boot stages on the console.
    public static let traceVariable = "PEN_TRACE"
    /// The kernel modules the init loads, relative to the root, and the file listing their load
    /// order: one module per line, dependencies first, each name followed by the modules it
    /// needs loaded before it (see ModuleLoadPlan).
    public static let moduleDirectory = "usr/lib/modules/pen"
    public static let moduleOrderFile = moduleDirectory + "/order"

    /// Present once a VM's first-boot setup has succeeded; the setup runs while it is absent.
    public static let setupMarker = "/var/lib/pen/setup-done"

    /// The guest's network: a /24 behind a gateway that also answers DNS (passt and QEMU's
    /// slirp both use these addresses).
    public enum Network {
        public static let guest = "10.0.2.15"
        public static let prefixLength = 24
        public static let netmask = "255.255.255.0"
        public static let gateway = "10.0.2.2"
        public static let resolver = "10.0.2.3"
        /// With the network policy: the interface that holds the guest's address and routes
        /// (a dummy: nothing sent on it leaves the VM), and the ports of the init's listeners
        /// (on the guest's loopback) that the redirect sends TCP and DNS to.
        public static let policyInterface = "dummy0"
        public static let guest6 = "fd00:70:656e::15"
        public static let policyTCPPort: UInt16 = 15001
        public static let policyDNSPort: UInt16 = 15053
    }
}
