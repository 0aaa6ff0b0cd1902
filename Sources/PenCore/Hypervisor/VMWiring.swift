// How a VM is wired: the descriptors QEMU inherits, every one opened or created by pen.
// Channels are socketpairs (no socket file another user could reach); the files QEMU writes
// (boot log, overlay disk) are opened without following symlinks and passed as fd sets.
// The supervisor's VMBoot makes one (tests too).

public struct VMWiring: Sendable {
    /// QEMU's end of the control channel.
    public var control: Int32
    /// QEMU's end of a builder VM's archive port.
    public var archive: Int32? = nil
    /// QEMU's end of the `pen.net` port (the network policy's streams; every VM has it).
    public var netPort: Int32? = nil
    /// QEMU's end of the socketpair whose other end passt serves.
    public var network: Int32? = nil
    public var bootLog: Int32
    /// The overlay disk, read-write and read-only (QEMU's block layer asks for both).
    public var disk: DiskDescriptors? = nil
    /// The root image, read-only.
    public var rootImage: Int32? = nil
    /// A boot snapshot's state, read-only, for QEMU to start from (`-incoming fd:N`).
    public var snapshotState: Int32? = nil
    /// QEMU's end of a QMP monitor socketpair: only while a boot snapshot is to be saved.
    public var monitor: Int32? = nil
    /// The kernel, the initrd and the workspace directory, opened by pen: QEMU opens them as
    /// /proc/self/fd/N, so it needs no path to them (nor the right to walk one, as another uid).
    public var kernel: Int32? = nil
    public var initrd: Int32? = nil
    public var workspace: Int32? = nil

    public struct DiskDescriptors: Equatable, Sendable {
        public var readWrite: Int32
        public var readOnly: Int32

        public init(readWrite: Int32, readOnly: Int32) {
            self.readWrite = readWrite
            self.readOnly = readOnly
        }
    }

    public init(control: Int32, archive: Int32? = nil, network: Int32? = nil, bootLog: Int32, disk: DiskDescriptors? = nil,
                rootImage: Int32? = nil, snapshotState: Int32? = nil, monitor: Int32? = nil, kernel: Int32? = nil,
                initrd: Int32? = nil, workspace: Int32? = nil) {
        self.control = control
        self.archive = archive
        self.network = network
        self.bootLog = bootLog
        self.disk = disk
        self.rootImage = rootImage
        self.snapshotState = snapshotState
        self.monitor = monitor
        self.kernel = kernel
        self.initrd = initrd
        self.workspace = workspace
    }

    /// Every descriptor QEMU must inherit.
    public var descriptors: [Int32] {
        [control, bootLog] + [archive, netPort, network, disk?.readWrite, disk?.readOnly, rootImage, snapshotState, monitor,
                              kernel, initrd, workspace].compactMap { $0 }
    }
}
