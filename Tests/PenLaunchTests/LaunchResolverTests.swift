import PenCore
import PenWire
@testable import ProfileBuilder
import Testing
@testable import PenLaunch

/// A host to resolve against: 6 cores, TCG unless told, passt installed unless told, pen's state under /pen.
func testHost(_ env: [String: String] = [:], kvm: Bool = false, passt: Bool = true, terminal: WindowSize? = nil) throws -> LaunchHost {
    LaunchHost(settings: try Settings(environment: ["PEN_HOME": "/pen"].merging(env) { _, given in given }), cores: 6,
               tscKilohertz: 2_000_000, kvm: KVMProbe(usable: kvm, reason: kvm ? "" : "no vmx"),
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

    let qemu = QEMU(executable: "/usr/bin/qemu-system-x86_64")

    func resolve(_ request: BootRequest, profile p: Profile? = nil, record r: VMRecord? = nil, owner: HostUser? = nil,
                 host h: LaunchHost? = nil) throws -> LaunchPlan {
        try LaunchResolver.describe(request, profile: p ?? profile(), record: r, workspace: "/home/u/project",
                                    workspaceOwner: owner, qemu: qemu, host: h ?? testHost())
    }

    func builderRequest() -> BuilderVMRequest {
        BuilderVMRequest(profile: "jq", kernelPath: "/img/vmlinux", initrdPath: "/img/initrd.img", rootImagePath: "/img/root.erofs",
                         script: "apt-get install jq", workDirectory: "/img/.build-1-x", archivePath: "/img/.build-1-x/root.tar",
                         memoryMiB: 4096, timeout: 60, output: { _ in })
    }

    @Test func aUserVMsPlanIsTheWholeBoot() throws {
        let plan = try resolve(BootRequest(name: "box", publish: ["8080:80"]), host: testHost(kvm: true))
        let ports = [PublishedPort(host: 8080, guest: 80)]
        var spec = VMSpec(name: "box", kernelPath: "", initrdPath: "", rootImagePath: nil,
                          kernelArguments: VMSpec.kernelArguments(accelerator: .kvm, tscKilohertz: 2_000_000, logLevel: 4),
                          diskPath: "/pen/vms/box/overlay.img", cpus: 6, memoryMiB: 2048, accelerator: .kvm,
                          bootLogPath: "/pen/vms/box/boot.log", qemuLogPath: "/pen/vms/box/qemu.log",
                          network: .policy(ports: ports), workspace: "/home/u/project")
        spec.qemuCopyDirectory = "/pen/images/qemu"
        var supervisor = SupervisorPlan(
            spec: spec, qemu: "/usr/bin/qemu-system-x86_64",
            boot: BootConfig(hostname: "box", setupScript: nil, workspaceTag: "workspace", networkPolicy: true), detached: false,
            idleTimeout: nil, bootTimeout: 120,
            facts: BootFacts(profile: "dev", cpus: 6, memoryMiB: 2048, workspace: "/home/u/project", published: ports,
                             accelerator: .kvm, network: .public),
            snapshotStore: "/pen/images/snapshots")
        supervisor.relay = RelayPlan(policy: NetworkPolicy(mode: .public), logPath: "/pen/vms/box/network.log", published: ports)
        supervisor.relay?.recordPath = "/pen/vms/box/vm.json"
        #expect(plan == LaunchPlan(supervisor: supervisor,
                                   newVM: NewVM(diskSize: 10 << 30, diskSizeGiven: false, cpus: 6, memoryMiB: 2048, profile: "dev",
                                                setupHash: nil),
                                   notices: [], cold: false))
    }

    @Test func theLauncherFillsOnlyTheImageAndTheSnapshot() throws {
        var plan = try resolve(BootRequest(name: "box"))
        let before = plan
        plan.use(BootImage(kernelPath: "/img/vmlinux", initrdPath: "/img/initrd.img", rootImagePath: "/img/root.erofs",
                           kernelSHA256: "k", initrdSHA256: "i", rootImageSHA256: "r", hash: "h", isBase: true))
        let key = SnapshotKey(kernelSHA256: "k", initrdSHA256: "i", rootImageSHA256: "r", qemu: "q", hostCPU: "tcg", machine: [])
        plan.use(SnapshotChoice(boot: .save(key: key.hash), state: nil, key: key))
        var expected = before
        expected.supervisor.spec.kernelPath = "/img/vmlinux"
        expected.supervisor.spec.initrdPath = "/img/initrd.img"
        expected.supervisor.spec.rootImagePath = "/img/root.erofs"
        expected.supervisor.spec.snapshot = .save(key: key.hash)
        expected.supervisor.snapshotKey = key
        #expect(plan == expected && plan != before)
    }

    @Test func aBuilderVMsPlanIsTheWholeBootToo() throws {
        var limited = try testHost(["PEN_MAX_ROOT_SIZE": "16G"])
        limited.runsAsRoot = true
        let plan = try LaunchResolver.describe(builder: builderRequest(), accelerator: .tcg, qemu: QEMU(executable: "/usr/bin/qemu"),
                                               host: limited)
        var spec = VMSpec(name: "build-jq", kernelPath: "/img/vmlinux", initrdPath: "/img/initrd.img",
                          rootImagePath: "/img/root.erofs",
                          kernelArguments: VMSpec.kernelArguments(accelerator: .tcg, tscKilohertz: 2_000_000, logLevel: 4),
                          diskPath: nil, cpus: 6, memoryMiB: 4096, accelerator: .tcg, bootLogPath: "/img/.build-1-x/boot.log",
                          qemuLogPath: "/img/.build-1-x/qemu.log", network: .policy(ports: []),
                          archivePort: true)
        spec.qemuUser = .nobody
        var supervisor = SupervisorPlan(spec: spec, qemu: "/usr/bin/qemu",
                                        boot: BootConfig(rootMode: .image, hostname: "pen-builder", networkPolicy: true),
                                        detached: true, idleTimeout: nil, bootTimeout: 300, archivePath: "/img/.build-1-x/root.tar",
                                        facts: BootFacts(profile: "jq", cpus: 6, memoryMiB: 4096, workspace: nil, published: [],
                                                         accelerator: .tcg))
        supervisor.archiveLimit = 16 << 30
        supervisor.relay = RelayPlan(policy: NetworkPolicy(mode: .public), logPath: "/img/.build-1-x/network.log")
        #expect(plan == LaunchPlan(supervisor: supervisor, newVM: nil, notices: [], cold: true))
        // Without PEN_MAX_ROOT_SIZE the stream is capped at the default.
        let unlimited = try LaunchResolver.describe(builder: builderRequest(), accelerator: .tcg, qemu: qemu, host: testHost())
        #expect(unlimited.supervisor.archiveLimit == SupervisorPlan.defaultArchiveLimit)
    }

    @Test func aBuildAllowNarrowsTheBuilderToItsRulesAndAptsMirrors() throws {
        var request = builderRequest()
        request.allow = [try NetworkRule("10.1.2.3:8080"), try NetworkRule("deb.debian.org:80")]
        let plan = try LaunchResolver.describe(builder: request, accelerator: .tcg, qemu: qemu, host: testHost())
        #expect(plan.supervisor.relay?.policy == NetworkPolicy(mode: .allow, rules: request.allow!))
        #expect(plan.supervisor.spec.network == .policy(ports: []))
    }

    @Test func coldComesFromTheFlagOrPenSnapshot() throws {
        #expect(try !resolve(BootRequest(name: "box")).cold)
        #expect(try resolve(BootRequest(name: "box", cold: true)).cold)
        #expect(try resolve(BootRequest(name: "box"), host: testHost(["PEN_SNAPSHOT": "0"])).cold)
    }

    @Test func aNewVMTakesFlagsOverTheProfileOverPensDefaults() throws {
        let defaults = try resolve(BootRequest(name: "box"))
        #expect(defaults.newVM == NewVM(diskSize: 10 << 30, diskSizeGiven: false, cpus: 6, memoryMiB: 2048,
                                        profile: "dev", setupHash: nil))
        #expect(defaults.spec.cpus == 6 && defaults.spec.memoryMiB == 2048 && !defaults.supervisor.detached)

        let fromProfile = try resolve(BootRequest(name: "box"), profile: profile(cpus: 2, memoryMiB: 4096, diskSize: 20 << 30))
        #expect(fromProfile.newVM?.cpus == 2 && fromProfile.newVM?.memoryMiB == 4096 && fromProfile.newVM?.diskSize == 20 << 30)

        let fromFlags = try resolve(BootRequest(name: "box", diskSize: "40G", cpus: 1, memory: "1G"),
                                    profile: profile(cpus: 2, memoryMiB: 4096, diskSize: 20 << 30))
        #expect(fromFlags.newVM?.cpus == 1 && fromFlags.newVM?.memoryMiB == 1024 && fromFlags.newVM?.diskSize == 40 << 30)
        #expect(fromFlags.newVM?.diskSizeGiven == true && fromFlags.spec.cpus == 1 && fromFlags.spec.memoryMiB == 1024)
    }

    @Test func aRootPensWorkspaceKeepsTheGuestsOwnersAndModesAsMetadataOnly() throws {
        #expect(try resolve(BootRequest(name: "box")).spec.workspaceMapped == false)
        var root = try testHost()
        root.runsAsRoot = true
        let asRoot = try resolve(BootRequest(name: "box"), owner: HostUser(uid: 1000, gid: 1000), host: root)
        #expect(asRoot.spec.workspaceMapped == true && asRoot.spec.qemuUser == HostUser(uid: 1000, gid: 1000))
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
        var root = try testHost()
        root.runsAsRoot = true
        #expect(try LaunchResolver.describe(builder: builderRequest(), accelerator: .tcg, qemu: qemu, host: root).spec.qemuUser == .nobody)
        #expect(try LaunchResolver.describe(builder: builderRequest(), accelerator: .tcg, qemu: qemu, host: testHost()).spec.qemuUser == nil)
    }

    @Test func anExistingVMKeepsItsResourcesUnlessAFlagSaysOtherwise() throws {
        let kept = try resolve(BootRequest(name: "box"), profile: profile(cpus: 2), record: record())
        #expect(kept.spec.cpus == 3 && kept.spec.memoryMiB == 3072)
        let overridden = try resolve(BootRequest(name: "box", cpus: 4, memory: "512M"), record: record())
        #expect(overridden.spec.cpus == 4 && overridden.spec.memoryMiB == 512)
    }

    @Test func aVMNeverChangesProfile() throws {
        #expect(try LaunchResolver.profileName(BootRequest(name: "box"), record: nil) == "default")
        #expect(try LaunchResolver.profileName(BootRequest(name: "box"), record: record()) == "dev")
        #expect(try LaunchResolver.profileName(BootRequest(name: "box", profile: "dev"), record: record()) == "dev")
        #expect { try LaunchResolver.profileName(BootRequest(name: "box", profile: "python"), record: record()) } throws: {
            ($0 as? PenError)?.message == "VM 'box' was created with profile 'dev', not 'python'; drop --profile, or use a new VM name"
        }
    }

    @Test(arguments: [
        (BootRequest(name: "../x"), "invalid VM name"),
        (BootRequest(name: "box", diskSize: "10X"), "invalid --disk-size"),
        (BootRequest(name: "box", diskSize: "1M"), "invalid --disk-size 1M"),
        (BootRequest(name: "box", cpus: 0), "invalid --cpus"),
        (BootRequest(name: "box", memory: "100M"), "invalid --memory"),
        (BootRequest(name: "box", accel: "warp"), "invalid --accel 'warp'"),
        (BootRequest(name: "box", publish: ["80"]), "invalid --publish"),
        (BootRequest(name: "box", idleTimeout: "soon"), "invalid --idle-timeout 'soon'"),
        (BootRequest(name: "box", idleTimeout: "5m", onIdle: "sleep"), "invalid --on-idle 'sleep'"),
        (BootRequest(name: "box", onIdle: "suspend"), "--on-idle says what the idle timeout does, and no --idle-timeout is given"),
    ])
    func everyBadBootFlagIsRefusedWithItsName(_ request: BootRequest, _ named: String) {
        #expect { try resolve(request) } throws: { ($0 as? PenError)?.message.hasPrefix(named) == true }
    }

    @Test func theAcceleratorAndNetworkFallBacksAreNotices() throws {
        let tcg = try resolve(BootRequest(name: "box", network: "full"), host: testHost(["PEN_NETWORK": "slirp"], passt: false))
        #expect(tcg.spec.accelerator == .tcg && tcg.spec.kernelArguments.contains("tsc_early_khz=2000000"))
        #expect(tcg.spec.network == .slirp(ports: []))
        #expect(tcg.notices.count == 3 && tcg.notices[0].contains("TCG") && tcg.notices[1].contains("full")
            && tcg.notices[2].contains("slirp"))
        #expect(throws: PenError.self) { try resolve(BootRequest(name: "box", network: "full"), host: testHost(passt: false)) }
        // The default needs no passt: the relay.
        #expect(try resolve(BootRequest(name: "box"), host: testHost(passt: false)).spec.network == .policy(ports: []))
        // --network none, or the profile's [vm] network: no device, and no passt needed.
        let offline = try resolve(BootRequest(name: "box", network: "none"), host: testHost(passt: false))
        #expect(offline.spec.network == .none && offline.supervisor.facts.network == NetworkMode.none)
        let profiled = try resolve(BootRequest(name: "box"), profile: profile(network: NetworkMode.none), host: testHost(passt: false))
        #expect(profiled.spec.network == .none)

        let kvm = try resolve(BootRequest(name: "box", publish: ["8080:80"], network: "full"), host: testHost(kvm: true))
        #expect(kvm.spec.accelerator == .kvm && kvm.notices.count == 1)
        #expect(kvm.spec.network == .passt(passt, ports: [PublishedPort(host: 8080, guest: 80)], log: "/pen/vms/box/passt.log"))
        #expect(kvm.supervisor.facts.published == [PublishedPort(host: 8080, guest: 80)])
        #expect { try resolve(BootRequest(name: "box", accel: "kvm")) } throws: {
            ($0 as? PenError)?.message.contains("KVM is not usable") == true
        }
    }

    @Test func aChangedSetupIsSaidOnceAndNotRerun() throws {
        let changed = try resolve(BootRequest(name: "box"), profile: profile(setup: "echo new"), record: record(setupHash: "old"))
        #expect(changed.notices.last == "pen: profile 'dev' has a different setup than when VM 'box' was created; this VM will not re-run it")
        #expect(changed.supervisor.boot == BootConfig(hostname: "box", setupScript: "echo new", workspaceTag: "workspace", networkPolicy: true))
    }

    @Test func detachedVMsKeepTheirIdleTimeout() throws {
        let plan = try resolve(BootRequest(name: "box", detached: true, idleTimeout: "15m"))
        #expect(plan.supervisor.detached && plan.supervisor.idleTimeout == 900)
        #expect(try resolve(BootRequest(name: "box", detached: true)).supervisor.idleTimeout == nil)
        #expect(!plan.supervisor.suspendWhenIdle)
        let suspending = try resolve(BootRequest(name: "box", detached: true, idleTimeout: "15m", onIdle: "suspend"))
        #expect(suspending.supervisor.suspendWhenIdle && suspending.supervisor.idleTimeout == 900)
        #expect(try !resolve(BootRequest(name: "box", detached: true, idleTimeout: "1m", onIdle: "stop")).supervisor.suspendWhenIdle)
    }

    @Test func theBootTimeoutComesFromTheSettings() throws {
        #expect(try resolve(BootRequest(name: "box")).supervisor.bootTimeout == 120)
        #expect(try resolve(BootRequest(name: "box"), host: testHost(["PEN_BOOT_TIMEOUT": "30"])).supervisor.bootTimeout == 30)
        #expect(throws: PenError.self) { try testHost(["PEN_BOOT_TIMEOUT": "soon"]) }
    }

    @Test func aRunningVMRefusesBootFlagsThatDiffer() throws {
        let facts = BootFacts(profile: "dev", cpus: 2, memoryMiB: 2048, workspace: "/home/u/p",
                              published: [PublishedPort(host: 8080, guest: 80)], accelerator: .tcg)
        func check(_ request: BootRequest, workspace: String? = nil) throws {
            try LaunchResolver.conflict(request, running: facts, workspace: workspace, vmName: "box")
        }
        // The same values, or none, are fine.
        try check(BootRequest(name: "box"))
        try check(BootRequest(name: "box", cpus: 2, memory: "2G", accel: "tcg", publish: ["8080:80"]), workspace: "/home/u/p")
        for (request, workspace, flag) in [(BootRequest(name: "box", cpus: 4), nil, "--cpus"),
                                           (BootRequest(name: "box", memory: "4G"), nil, "--memory"),
                                           (BootRequest(name: "box", publish: ["9090:90"]), nil, "--publish"),
                                           (BootRequest(name: "box", accel: "kvm"), nil, "--accel"),
                                           (BootRequest(name: "box"), "/elsewhere", "--dir")] {
            #expect { try check(request, workspace: workspace) } throws: {
                let message = ($0 as? PenError)?.message ?? ""
                return message.hasPrefix("VM 'box' is running with") && message.contains(flag) && !message.contains("\n")
            }
        }
        #expect { try check(BootRequest(name: "box", profile: "python")) } throws: {
            ($0 as? PenError)?.message.contains("created with profile 'dev'") == true
        }
    }
}

/// Which network a boot gets: the flags, else the profile, else `public`; rules mean `allow`.
@Suite struct NetworkChoiceTests {
    let qemu = QEMU(executable: "/usr/bin/qemu-system-x86_64")

    func resolve(_ request: BootRequest, allow: [String]? = nil, network: NetworkMode? = nil, record: VMRecord? = nil) throws -> LaunchPlan {
        var p = Profile(name: "dev", sourcePath: "/p/dev.toml", network: network)
        p.allow = try allow.map { try $0.map { try NetworkRule($0) } }
        return try LaunchResolver.describe(request, profile: p, record: record, workspace: "/w", workspaceOwner: nil, qemu: qemu,
                                           host: testHost())
    }

    @Test func whatPenVMNetLeftInTheRecordWinsOverTheProfileNotOverFlags() throws {
        var record = VMRecord(name: "box", diskSize: 1 << 30, profile: "dev", cpus: 1, memoryMiB: 1024)
        record.network = .allow
        record.allow = [try NetworkRule("kept.example")]
        let kept = try resolve(BootRequest(name: "box"), allow: ["profile.example"], record: record)
        #expect(policy(kept) == NetworkPolicy(mode: .allow, rules: [try NetworkRule("kept.example")]))
        #expect(kept.supervisor.relay?.recordPath == "/pen/vms/box/vm.json")
        let flagged = try resolve(BootRequest(name: "box", allow: ["flag.example"]), record: record)
        #expect(policy(flagged) == NetworkPolicy(mode: .allow, rules: [try NetworkRule("flag.example")]))
    }

    func policy(_ plan: LaunchPlan) -> NetworkPolicy? { plan.supervisor.relay?.policy }

    @Test func theDefaultIsPublicThroughTheRelay() throws {
        let plan = try resolve(BootRequest(name: "box"))
        #expect(policy(plan) == NetworkPolicy(mode: .public))
        #expect(plan.supervisor.boot.networkPolicy && plan.supervisor.facts.network == .public)
        #expect(plan.supervisor.relay?.logPath == "/pen/vms/box/network.log")
    }

    @Test func allowRulesComeFromTheFlagsElseTheProfile() throws {
        let flags = try resolve(BootRequest(name: "box", allow: ["example.org", "10.0.0.0/8:443"]), allow: ["profile.example"])
        #expect(policy(flags) == NetworkPolicy(mode: .allow, rules: [try NetworkRule("example.org"), try NetworkRule("10.0.0.0/8:443")]))
        let profiled = try resolve(BootRequest(name: "box"), allow: ["profile.example"])
        #expect(policy(profiled) == NetworkPolicy(mode: .allow, rules: [try NetworkRule("profile.example")]))
        // A mode flag overrides the profile's rules; `full` and `none` have no relay.
        #expect(policy(try resolve(BootRequest(name: "box", network: "public"), allow: ["profile.example"])) == NetworkPolicy(mode: .public))
        for mode in ["full", "none"] {
            let plan = try resolve(BootRequest(name: "box", network: mode))
            #expect(plan.supervisor.relay == nil && !plan.supervisor.boot.networkPolicy)
        }
        let empty = try resolve(BootRequest(name: "box", network: "allow"))
        #expect(empty.notices.contains { $0.contains("reaches nothing") })
    }

    @Test func rulesWithAnotherModeOrMalformedAreOneLine() throws {
        #expect { try resolve(BootRequest(name: "box", network: "public", allow: ["example.org"])) } throws: {
            ($0 as? PenError)?.fix?.contains("--network allow") == true
        }
        #expect { try resolve(BootRequest(name: "box", allow: ["exa mple.org"])) } throws: {
            ($0 as? PenError)?.message.contains("exa mple.org") == true
        }
    }
}
