// The stages of one boot, in boot order: the guest init times each and reports it in a `stage`
// frame (the host times the first, QEMU's start until the guest's first word); `PEN_TIMINGS`
// prints them in this order. Named here once, so both sides spell them the same.

public enum BootStage: String, CaseIterable, Sendable {
    /// Host: QEMU's start until the guest's first frame (a cold kernel's boot, or a restore).
    case qemuToGuest = "qemu_to_guest"
    /// The kernel's own time before init started.
    case kernelToInit = "kernel_to_init"
    case early
    case modules
    case rootImage = "root_image"
    /// A restored guest made its own (clock and entropy); the stages of this VM start here.
    case fresh
    case vmDevices = "vm_devices"
    case root
    case network
    case workspace
    /// The first-boot setup script.
    case setup
}

extension StageTiming {
    public init(_ stage: BootStage, _ micros: UInt64) {
        self.init(stage.rawValue, micros)
    }
}
