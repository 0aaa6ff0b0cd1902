// Which user QEMU runs as. pen as an ordinary user: QEMU is that user, nothing to decide. pen as
// root: a guest that took QEMU over would be root on the host, so QEMU drops to an unprivileged
// uid before it starts — the workspace's owner (the user who ran `sudo pen` in their project,
// whose files the share writes anyway), or `nobody` for a VM with no workspace (a builder).
// One case keeps root: a workspace owned by root, which no other uid could write; there the
// share's mapped-xattr model still keeps setuid files and device nodes off the host.
// (passt drops to nobody by itself when started as root.)
public struct HostUser: Codable, Equatable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    /// Exactly these supplementary groups (the KVM device's, when QEMU needs /dev/kvm).
    public var groups: [UInt32]

    public init(uid: UInt32, gid: UInt32, groups: [UInt32] = []) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    public static let nobody = HostUser(uid: 65534, gid: 65534)
}

public enum QEMUUser {
    /// nil: QEMU runs as pen does.
    public static func choose(penIsRoot: Bool, workspaceOwner: (uid: UInt32, gid: UInt32)?, hasWorkspace: Bool,
                              accelerator: Accelerator, kvmGroup: UInt32?) -> HostUser? {
        guard penIsRoot else { return nil }
        var user: HostUser
        if hasWorkspace {
            guard let owner = workspaceOwner, owner.uid != 0 else { return nil }
            user = HostUser(uid: owner.uid, gid: owner.gid)
        } else {
            user = .nobody
        }
        if accelerator == .kvm, let kvmGroup { user.groups = [kvmGroup] }
        return user
    }
}
