// What a supervisor runs: QEMU (or, in tests, something that stands in for it) and pen's ends
// of its channels. VMBoot makes one when it starts QEMU; a test makes one around a fake.
import Foundation
import PenCore

public struct SupervisedVM {
    public var process: VMProcess
    /// pen's end of the control channel.
    public var control: Int32
    /// A builder VM's archive port (pen's end) and the file it is copied to.
    public var archive: (port: Int32, file: Int32)?
    /// pen's end of QEMU's QMP monitor, while a boot snapshot is to be saved.
    public var monitor: Int32?
    /// pen's end of the `pen.net` port: the network relay's, with `public` or `allow`.
    public var netPort: Int32?
    /// Descriptors that must stay open while the VM runs (passt's, the wiring's leftovers).
    var held: Descriptors?
    /// passt, when the VM has a network (reaped when this VM is dropped).
    var passt: ChildProcess?

    public init(process: VMProcess, control: Int32, archive: (port: Int32, file: Int32)? = nil, monitor: Int32? = nil) {
        self.process = process
        self.control = control
        self.archive = archive
        self.monitor = monitor
    }

    init(process: ChildProcess, control: Int32, archive: (port: Int32, file: Int32)?, monitor: Int32?, held: Descriptors,
         passt: ChildProcess?) {
        self.init(process: process, control: control, archive: archive, monitor: monitor)
        self.held = held
        self.passt = passt
    }
}
