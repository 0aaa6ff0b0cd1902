// PenGuestInit: the guest's PID 1. Turns the initramfs into a persistent overlay root, serves
// the sessions the host opens over the control channel, and powers off cleanly when asked.
import Glibc
import PenWire

var timer = StageTimer()
var channel: ControlChannel?

do throws(InitFailure) {
    guard getpid() == 1 else {
        Console.log("pen-init: must run as PID 1 inside a pen VM")
        exit(1)
    }
    // Benchmarks boot a bare QEMU with PEN_POWEROFF=1 on the kernel command line: the floor.
    if getenv("PEN_POWEROFF") != nil { Shutdown.finish() }
    timer.markKernel()
    try EarlyMounts.rerootOnBindMount()
    try EarlyMounts.mountAPIFilesystems()
    Console.attach()
    Console.tracing = getenv(GuestContract.traceVariable) != nil
    timer.mark(.early)
    try Modules.loadAll()
    timer.mark(.modules)
    try VirtioBus.bindShared()
    try RootSwitch.mountLower()
    timer.mark(.rootImage)
    let control = try ControlChannel()
    channel = control
    // The snapshot point: nothing of this VM has been touched yet (its disk, network and
    // workspace devices are not bound, its configuration not read). The host may save the
    // machine here, and every VM of this image and shape then starts from this very moment.
    control.send(timer.finished.map { Frame.stage($0) } + [Frame(.snapshotPoint)])
    Console.trace("at the snapshot point")
    let (config, configured) = try control.readConfig()
    Console.trace("configured")
    timer = StageTimer()  // from here on, the stages of this VM (a restored one starts here)
    let pending = configured + (try FreshStart.apply(over: control))
    timer.mark(.fresh)
    try VirtioBus.bindTheRest()
    timer.mark(.vmDevices)
    try RootSwitch.mountRoot(config.rootMode, vmName: config.hostname) { control.send(.notice, $0) }
    timer.mark(.root)
    try Network.configure(hostname: config.hostname, policy: config.networkPolicy)
    if config.networkPolicy { try NetRelay.start() }
    timer.mark(.network)
    if let tag = config.workspaceTag {
        Console.trace("mounting the workspace")
        try Workspace.mount(tag: tag)
        timer.mark(.workspace)
    }
    let server = try SessionServer(channel: control, config: config, timer: timer)
    control.send([Frame(.ready)] + timer.finished.map { Frame.stage($0) })
    Console.trace("ready")
    server.run(pending: pending)
} catch {
    Console.log(error.line)
    channel?.send(.fatal, "\(error.stage): \(error.message)")
    channel?.awaitGoodbye(timeoutMillis: 1000)
    Shutdown.finish()
}
