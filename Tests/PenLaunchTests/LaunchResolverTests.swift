import PenCore
import PenWire
import ProfileBuilder
import Testing
@testable import PenLaunch

/// A host to resolve against: 6 cores, TCG unless told, passt installed unless told.
func testHost(_ env: [String: String] = [:], kvm: Bool = false, passt: Bool = true, terminal: WindowSize? = nil) -> LaunchHost {
    LaunchHost(environment: env, cores: 6, tscKilohertz: 2_000_000,
               kvm: KVMProbe(usable: kvm, reason: kvm ? "" : "no vmx"),
               passt: passt ? Passt(executable: "/usr/bin/passt") : nil,
               currentDirectory: "/home/u/project", terminalSize: terminal)
}

@Suite struct LaunchResolverTests {
    let passt = Passt(executable: "/usr/bin/passt")

    func profile(cpus: Int? = nil, memoryMiB: Int? = nil, diskSize: UInt64? = nil, setup: String? = nil,
                 network: NetworkMode? = nil) -> Profile {
        Profile(name: "dev", sourcePath: "/p/dev.toml", setup: setup, diskSize: diskSize, cpus: cpus, memoryMiB: memoryMiB,
                network: network)
    }

    func record(cpus: Int = 3, memoryMiB: Int = 3072, setupHash: String? = nil) -> VMRecord {
        VMRecord(name: "box", diskSize: 20 << 30, profile: "dev", setupHash: setupHash, cpus: cpus, memoryMiB: memoryMiB)
    }

    func resolve(_ request: LaunchRequest, profile p: Profile? = nil, record r: VMRecord? = nil,
                 host h: LaunchHost? = nil) throws -> LaunchPlan {
        try LaunchResolver.resolve(request, profile: p ?? profile(), record: r, workspace: "/home/u/project",
                                   vmDirectory: "/vms/box", host: h ?? testHost())
    }

    @Test func aNewVMTakesFlagsOverTheProfileOverPensDefaults() throws {
        let defaults = try resolve(LaunchRequest(name: "box"))
        #expect(defaults.newVM == NewVM(diskSize: 10 << 30, diskSizeGiven: false, cpus: 6, memoryMiB: 2048,
                                        profile: "dev", setupHash: nil))
        #expect(defaults.cpus == 6 && defaults.memoryMiB == 2048 && !defaults.detached)

        let fromProfile = try resolve(LaunchRequest(name: "box"), profile: profile(cpus: 2, memoryMiB: 4096, diskSize: 20 << 30))
        #expect(fromProfile.newVM.cpus == 2 && fromProfile.newVM.memoryMiB == 4096 && fromProfile.newVM.diskSize == 20 << 30)

        let fromFlags = try resolve(LaunchRequest(name: "box", diskSize: "40G", cpus: 1, memory: "1G"),
                                    profile: profile(cpus: 2, memoryMiB: 4096, diskSize: 20 << 30))
        #expect(fromFlags.newVM.cpus == 1 && fromFlags.newVM.memoryMiB == 1024 && fromFlags.newVM.diskSize == 40 << 30)
        #expect(fromFlags.newVM.diskSizeGiven && fromFlags.cpus == 1 && fromFlags.memoryMiB == 1024)
    }

    @Test func aRootPensWorkspaceKeepsTheGuestsOwnersAndModesAsMetadataOnly() throws {
        #expect(try resolve(LaunchRequest(name: "box")).workspaceMapped == false)
        var root = testHost()
        root.runsAsRoot = true
        #expect(try resolve(LaunchRequest(name: "box"), host: root).workspaceMapped == true)
    }

    @Test func qemuDropsRootForTheWorkspacesOwnerOrNobody() {
        let owner: (uid: UInt32, gid: UInt32) = (1000, 1000)
        // pen as an ordinary user: QEMU is that user.
        #expect(QEMUUser.choose(penIsRoot: false, workspaceOwner: owner, hasWorkspace: true, accelerator: .tcg, kvmGroup: 108) == nil)
        // pen as root: the workspace's owner, with the KVM group only when it needs /dev/kvm.
        #expect(QEMUUser.choose(penIsRoot: true, workspaceOwner: owner, hasWorkspace: true, accelerator: .tcg, kvmGroup: 108)
                == HostUser(uid: 1000, gid: 1000))
        #expect(QEMUUser.choose(penIsRoot: true, workspaceOwner: owner, hasWorkspace: true, accelerator: .kvm, kvmGroup: 108,
                                isMember: { $0 == 1000 && $1 == 108 })
                == HostUser(uid: 1000, gid: 1000, groups: [108]))
        // …and never a group the user is not in.
        #expect(QEMUUser.choose(penIsRoot: true, workspaceOwner: owner, hasWorkspace: true, accelerator: .kvm, kvmGroup: 108,
                                isMember: { _, _ in false })
                == HostUser(uid: 1000, gid: 1000))
        // No workspace (a builder VM): nobody.
        #expect(QEMUUser.choose(penIsRoot: true, workspaceOwner: nil, hasWorkspace: false, accelerator: .tcg, kvmGroup: nil) == .nobody)
        // A root-owned workspace only root can write: QEMU stays root (the share is mapped-xattr).
        #expect(QEMUUser.choose(penIsRoot: true, workspaceOwner: (0, 0), hasWorkspace: true, accelerator: .tcg, kvmGroup: nil) == nil)
    }

    @Test func qemusGroupIsItsUsersOwnNeverTheWorkspaceDirectorysGroup() {
        // The user database's answer, not a directory's group (which can be one the owner lacks).
        #expect(HostUser.primaryGroup(of: 0) == 0)
        #expect(HostUser.primaryGroup(of: 4_000_000) == HostUser.nobody.gid)  // no such user
        #expect(HostUser.isMember(0, of: 0))
        #expect(!HostUser.isMember(4_000_000, of: 0))
    }

    @Test func aRootPensBuilderVMRunsQEMUAsNobody() throws {
        var root = testHost()
        root.runsAsRoot = true
        let request = BuilderVMRequest(profile: "p", kernelPath: "/k", initrdPath: "/i", rootImagePath: "/r", script: "true",
                                       workDirectory: "/w", archivePath: "/w/root.tar", memoryMiB: 4096, timeout: 60,
                                       output: { _ in })
        let plan = try LaunchResolver.builder(request, accelerator: .tcg, qemu: QEMU(executable: "/usr/bin/qemu-system-x86_64"),
                                              host: root, notice: { _ in })
        #expect(plan.spec.qemuUser == .nobody)
        let asUser = try LaunchResolver.builder(request, accelerator: .tcg, qemu: QEMU(executable: "/usr/bin/qemu-system-x86_64"),
                                                host: testHost(), notice: { _ in })
        #expect(asUser.spec.qemuUser == nil)
    }

    @Test func anExistingVMKeepsItsResourcesUnlessAFlagSaysOtherwise() throws {
        let kept = try resolve(LaunchRequest(name: "box"), profile: profile(cpus: 2), record: record())
        #expect(kept.cpus == 3 && kept.memoryMiB == 3072)
        let overridden = try resolve(LaunchRequest(name: "box", cpus: 4, memory: "512M"), record: record())
        #expect(overridden.cpus == 4 && overridden.memoryMiB == 512)
    }

    @Test func aVMNeverChangesProfile() throws {
        #expect(try LaunchResolver.profileName(LaunchRequest(name: "box"), record: nil) == "default")
        #expect(try LaunchResolver.profileName(LaunchRequest(name: "box"), record: record()) == "dev")
        #expect(try LaunchResolver.profileName(LaunchRequest(name: "box", profile: "dev"), record: record()) == "dev")
        #expect { try LaunchResolver.profileName(LaunchRequest(name: "box", profile: "python"), record: record()) } throws: {
            ($0 as? PenError)?.message == "VM 'box' was created with profile 'dev', not 'python'; drop --profile, or use a new VM name"
        }
    }

    @Test(arguments: [
        (LaunchRequest(name: "../x"), "invalid VM name"),
        (LaunchRequest(name: "box", diskSize: "10X"), "invalid --disk-size"),
        (LaunchRequest(name: "box", diskSize: "1M"), "invalid --disk-size 1M"),
        (LaunchRequest(name: "box", cpus: 0), "invalid --cpus"),
        (LaunchRequest(name: "box", memory: "100M"), "invalid --memory"),
        (LaunchRequest(name: "box", accel: "warp"), "invalid --accel 'warp'"),
        (LaunchRequest(name: "box", publish: ["80"]), "invalid --publish"),
        (LaunchRequest(name: "box", idleTimeout: "soon"), "invalid --idle-timeout 'soon'"),
    ])
    func everyBadBootFlagIsRefusedWithItsName(_ request: LaunchRequest, _ named: String) {
        #expect { try resolve(request) } throws: { ($0 as? PenError)?.message.hasPrefix(named) == true }
    }

    @Test func theAcceleratorAndNetworkFallBacksAreNotices() throws {
        let tcg = try resolve(LaunchRequest(name: "box"), host: testHost(["PEN_NETWORK": "slirp"], passt: false))
        #expect(tcg.accelerator == .tcg && tcg.kernelArguments.contains("tsc_early_khz=2000000"))
        #expect(tcg.network == .slirp(ports: []))
        #expect(tcg.notices.count == 2 && tcg.notices[0].contains("TCG") && tcg.notices[1].contains("slirp"))
        #expect(throws: PenError.self) { try resolve(LaunchRequest(name: "box"), host: testHost(passt: false)) }
        // --network none, or the profile's [vm] network: no device, and no passt needed.
        let offline = try resolve(LaunchRequest(name: "box", network: "none"), host: testHost(passt: false))
        #expect(offline.network == .none && offline.facts.network == NetworkMode.none)
        let profiled = try resolve(LaunchRequest(name: "box"), profile: profile(network: NetworkMode.none), host: testHost(passt: false))
        #expect(profiled.network == .none)

        let kvm = try resolve(LaunchRequest(name: "box", publish: ["8080:80"]), host: testHost(kvm: true))
        #expect(kvm.accelerator == .kvm && kvm.notices.isEmpty)
        #expect(kvm.network == .passt(passt, ports: [PublishedPort(host: 8080, guest: 80)], log: "/vms/box/passt.log"))
        #expect(kvm.facts.published == [PublishedPort(host: 8080, guest: 80)])
        #expect { try resolve(LaunchRequest(name: "box", accel: "kvm")) } throws: {
            ($0 as? PenError)?.message.contains("KVM is not usable") == true
        }
    }

    @Test func aChangedSetupIsSaidOnceAndNotRerun() throws {
        let changed = try resolve(LaunchRequest(name: "box"), profile: profile(setup: "echo new"), record: record(setupHash: "old"))
        #expect(changed.notices.last == "pen: profile 'dev' has a different setup than when VM 'box' was created; this VM will not re-run it")
        #expect(changed.boot == BootConfig(hostname: "box", setupScript: "echo new", workspaceTag: "workspace"))
    }

    @Test func detachedVMsKeepTheirIdleTimeout() throws {
        let plan = try resolve(LaunchRequest(name: "box", detached: true, idleTimeout: "15m"))
        #expect(plan.detached && plan.idleTimeout == 900)
        #expect(try resolve(LaunchRequest(name: "box", detached: true)).idleTimeout == nil)
    }

    @Test func timeoutsComeFromTheEnvironmentWhenSane() throws {
        #expect(try resolve(LaunchRequest(name: "box")).bootTimeout == 120)
        #expect(try resolve(LaunchRequest(name: "box"), host: testHost(["PEN_BOOT_TIMEOUT": "30"])).bootTimeout == 30)
        for junk in ["x", "-5", "0", "inf", "nan"] {
            #expect(try resolve(LaunchRequest(name: "box"), host: testHost(["PEN_BOOT_TIMEOUT": junk])).bootTimeout == 120)
        }
    }

    @Test func aRunningVMRefusesBootFlagsThatDiffer() throws {
        let facts = BootFacts(profile: "dev", cpus: 2, memoryMiB: 2048, workspace: "/home/u/p",
                              published: [PublishedPort(host: 8080, guest: 80)], accelerator: .tcg)
        func check(_ request: LaunchRequest, workspace: String? = nil) throws {
            try LaunchResolver.conflict(request, running: facts, workspace: workspace, vmName: "box")
        }
        // The same values, or none, are fine.
        try check(LaunchRequest(name: "box"))
        try check(LaunchRequest(name: "box", cpus: 2, memory: "2G", accel: "tcg", publish: ["8080:80"]), workspace: "/home/u/p")
        for (request, workspace, flag) in [(LaunchRequest(name: "box", cpus: 4), nil, "--cpus"),
                                           (LaunchRequest(name: "box", memory: "4G"), nil, "--memory"),
                                           (LaunchRequest(name: "box", publish: ["9090:90"]), nil, "--publish"),
                                           (LaunchRequest(name: "box", accel: "kvm"), nil, "--accel"),
                                           (LaunchRequest(name: "box"), "/elsewhere", "--dir")] {
            #expect { try check(request, workspace: workspace) } throws: {
                let message = ($0 as? PenError)?.message ?? ""
                return message.hasPrefix("VM 'box' is running with") && message.contains(flag) && !message.contains("\n")
            }
        }
        #expect { try check(LaunchRequest(name: "box", profile: "python")) } throws: {
            ($0 as? PenError)?.message.contains("created with profile 'dev'") == true
        }
    }

    @Test func aBuilderVMBootsTheBaseWithNetworkNoDiskAndAnArchivePort() throws {
        let request = BuilderVMRequest(profile: "jq", kernelPath: "/img/vmlinux", initrdPath: "/img/initrd.img",
                                       rootImagePath: "/img/root.erofs",
                                       script: "apt-get install jq", workDirectory: "/img/.build-1-x",
                                       archivePath: "/img/.build-1-x/root.tar", memoryMiB: 4096, timeout: 60,
                                       output: { _ in })
        var notices: [String] = []
        let plan = try LaunchResolver.builder(request, accelerator: .tcg, qemu: QEMU(executable: "/usr/bin/qemu"),
                                          host: testHost(), notice: { notices.append($0) })
        #expect(plan.spec.name == "build-jq" && plan.spec.diskPath == nil && plan.spec.archivePort && plan.spec.workspace == nil)
        #expect(plan.spec.cpus == 6 && plan.spec.memoryMiB == 4096 && plan.spec.bootLogPath == "/img/.build-1-x/boot.log")
        #expect(plan.spec.network == .passt(passt, ports: [], log: "/img/.build-1-x/passt.log") && notices.isEmpty)
        #expect(plan.boot.rootMode == .image && plan.detached && plan.archivePath == "/img/.build-1-x/root.tar")
        #expect(plan.spec.rootImagePath == "/img/root.erofs")
    }
}
