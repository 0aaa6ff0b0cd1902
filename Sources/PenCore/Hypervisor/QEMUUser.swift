// Which user QEMU runs as. pen as an ordinary user: QEMU is that user, nothing to decide. pen as
// root: a guest that took QEMU over would be root on the host, so QEMU drops to an unprivileged
// uid before it starts — the workspace's owner (the user who ran `sudo pen` in their project,
// whose files the share writes anyway), or `nobody` for a VM with no workspace (a builder).
// One case keeps root: a workspace owned by root, which no other uid could write; there the
// share's mapped-xattr model still keeps setuid files and device nodes off the host.
// (passt drops to nobody by itself when started as root.)
import Foundation

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

    /// The uid's own primary group from the user database (nogroup when it has no entry): never
    /// the group of a directory it owns, which can be one the user is not in.
    public static func primaryGroup(of uid: UInt32) -> UInt32 {
        guard let entry = getpwuid(uid_t(uid)) else { return nobody.gid }
        return UInt32(entry.pointee.pw_gid)
    }

    /// Who owns `path` (a workspace): its uid with that user's own primary group (nil: cannot stat it).
    public static func owner(of path: String) -> HostUser? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return HostUser(uid: st.st_uid, gid: primaryGroup(of: st.st_uid))
    }

    /// Whether the uid is a member of `group` (its primary group or a supplementary one).
    public static func isMember(_ uid: UInt32, of group: UInt32) -> Bool {
        guard let entry = getpwuid(uid_t(uid)), let name = entry.pointee.pw_name else { return false }
        let primary = entry.pointee.pw_gid
        if UInt32(primary) == group { return true }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, primary, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, primary, &groups, &count) >= 0 else { return false }
        }
        return groups.prefix(Int(count)).contains(gid_t(group))
    }
}

public enum QEMUUser {
    /// nil: QEMU runs as pen does.
    /// `workspaceOwner`: the workspace's owner and that user's own primary group
    /// (`HostUser.primaryGroup`). `isMember` says whether a uid has a group (the user database).
    public static func choose(penIsRoot: Bool, workspaceOwner: (uid: UInt32, gid: UInt32)?, hasWorkspace: Bool,
                              accelerator: Accelerator, kvmGroup: UInt32?,
                              isMember: (UInt32, UInt32) -> Bool = HostUser.isMember) -> HostUser? {
        guard penIsRoot else { return nil }
        var user: HostUser
        if hasWorkspace {
            guard let owner = workspaceOwner, owner.uid != 0 else { return nil }
            user = HostUser(uid: owner.uid, gid: owner.gid)
        } else {
            user = .nobody
        }
        // The KVM device's group only for a user who has it anyway: QEMU gets no group its uid lacks.
        if accelerator == .kvm, let kvmGroup, isMember(user.uid, kvmGroup) { user.groups = [kvmGroup] }
        return user
    }
}
