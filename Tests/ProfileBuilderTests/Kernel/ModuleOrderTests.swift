import Testing
@testable import ProfileBuilder

@Suite struct ModuleOrderTests {
    static func graph(_ infos: [ModuleInfo]) -> [String: ModuleInfo] {
        Dictionary(uniqueKeysWithValues: infos.map { ($0.name, $0) })
    }

    // Shaped like the real guest set: ext4 and 9p stacks plus virtio.
    static let kernel = graph([
        ModuleInfo(name: "virtio_ring"),
        ModuleInfo(name: "virtio"),
        ModuleInfo(name: "virtio_mmio", depends: ["virtio", "virtio_ring"]),
        ModuleInfo(name: "virtio_blk", depends: ["virtio", "virtio_ring"]),
        ModuleInfo(name: "crc16"),
        ModuleInfo(name: "mbcache"),
        ModuleInfo(name: "jbd2", softdepPre: ["crypto-crc32c"]),
        ModuleInfo(name: "crc32c_generic", aliases: ["crypto-crc32c", "crc32c"]),
        ModuleInfo(name: "crc32c_intel", aliases: ["crypto-crc32c"]),
        ModuleInfo(name: "ext4", depends: ["jbd2", "mbcache", "crc16"], softdepPre: ["crypto-crc32c"]),
        ModuleInfo(name: "netfs"),
        ModuleInfo(name: "fscache", depends: ["netfs"]),
        ModuleInfo(name: "9pnet"),
        ModuleInfo(name: "9pnet_virtio", depends: ["virtio", "9pnet", "virtio_ring"]),
        ModuleInfo(name: "9p", depends: ["9pnet", "fscache", "netfs"]),
        ModuleInfo(name: "unrelated", depends: ["virtio"]),
    ])

    static func assertDepsFirst(_ order: [String], _ available: [String: ModuleInfo]) {
        for (i, name) in order.enumerated() {
            for dep in available[name]!.depends {
                let j = order.firstIndex(of: dep)
                #expect(j != nil && j! < i, "\(dep) must load before \(name)")
            }
        }
    }

    @Test func orderRespectsDependencies() throws {
        let order = try ModuleOrder.loadOrder(roots: ["ext4", "9p", "virtio_blk", "9pnet_virtio", "virtio_mmio"],
                                              available: Self.kernel)
        Self.assertDepsFirst(order, Self.kernel)
        #expect(Set(order) == ["ext4", "jbd2", "mbcache", "crc16", "9p", "9pnet", "fscache", "netfs",
                               "virtio_blk", "virtio", "virtio_ring", "9pnet_virtio", "virtio_mmio"])
        #expect(order.count == Set(order).count)
        // Depth-first from the roots as given, dependencies in name order.
        #expect(order == ["crc16", "jbd2", "mbcache", "ext4", "9pnet", "netfs", "fscache", "9p",
                          "virtio", "virtio_ring", "virtio_blk", "9pnet_virtio", "virtio_mmio"])
        #expect(!order.contains("unrelated") && !order.contains("crc32c_intel"))
        // Each module carries what must be loaded before it: the guest loads the rest side by side.
        let plan = try ModuleOrder.loadPlan(roots: ["ext4", "9p", "virtio_blk", "9pnet_virtio", "virtio_mmio"],
                                            available: Self.kernel)
        #expect(plan.map(\.name) == order)
        let needs = Dictionary(uniqueKeysWithValues: plan.map { ($0.name, Set($0.needs)) })
        for module in plan { #expect(needs[module.name] == Set(Self.kernel[module.name]!.depends)) }
    }

    @Test func orderIsDeterministic() throws {
        let roots = ["virtio_mmio", "9p", "ext4", "9pnet_virtio", "virtio_blk"]
        let first = try ModuleOrder.loadOrder(roots: roots, available: Self.kernel)
        for _ in 0..<20 {
            // Dictionary built in another order, roots repeated and spelled with '-': same result.
            let rebuilt = Dictionary(uniqueKeysWithValues: Self.kernel.shuffled())
            #expect(try ModuleOrder.loadOrder(roots: roots + ["virtio-blk", "9p"], available: rebuilt) == first)
        }
    }

    @Test func rootsLoadInTheOrderGiven() throws {
        // virtio_mmio (the transport) first even though it sorts after virtio_blk.
        #expect(try ModuleOrder.loadOrder(roots: ["virtio_mmio", "virtio_blk"], available: Self.kernel)
                == ["virtio", "virtio_ring", "virtio_mmio", "virtio_blk"])
        #expect(try ModuleOrder.loadOrder(roots: ["virtio_blk", "virtio_mmio"], available: Self.kernel)
                == ["virtio", "virtio_ring", "virtio_blk", "virtio_mmio"])
    }

    @Test func softdepPreIsHonouredWhenAvailable() throws {
        let g = Self.graph([
            ModuleInfo(name: "zz_helper"),
            ModuleInfo(name: "aa_main", softdepPre: ["zz_helper", "not_shipped"]),
        ])
        // zz_helper sorts after aa_main, yet the softdep pulls it in and first.
        #expect(try ModuleOrder.loadOrder(roots: ["aa_main"], available: g) == ["zz_helper", "aa_main"])
        // A softdep missing from the package is not an error.
        #expect(try ModuleOrder.closure(roots: ["aa_main"], available: g) == ["aa_main", "zz_helper"])
    }

    @Test func softdepAliasOrdersAnAlreadyRequestedProvider() throws {
        // ext4's "crypto-crc32c" alias softdep: crc32c_generic is requested anyway, so it goes
        // first; crc32c_intel (another provider) is not pulled in.
        let order = try ModuleOrder.loadOrder(roots: ["ext4", "crc32c_generic"], available: Self.kernel)
        #expect(order.firstIndex(of: "crc32c_generic")! < order.firstIndex(of: "ext4")!)
        #expect(order.firstIndex(of: "crc32c_generic")! < order.firstIndex(of: "jbd2")!)
        #expect(!order.contains("crc32c_intel"))
        // Without it requested, nothing extra is loaded.
        #expect(!(try ModuleOrder.loadOrder(roots: ["ext4"], available: Self.kernel)).contains("crc32c_generic"))
    }

    @Test func missingDependencyIsNamed() {
        let g = Self.graph([ModuleInfo(name: "virtio_net", depends: ["virtio", "net_failover"]),
                            ModuleInfo(name: "virtio")])
        #expect(throws: KernelError.missingDependency("net_failover", requiredBy: "virtio_net")) {
            try ModuleOrder.loadOrder(roots: ["virtio_net"], available: g)
        }
        let message = KernelError.missingDependency("net_failover", requiredBy: "virtio_net").description
        #expect(message.contains("net_failover") && message.contains("virtio_net") && !message.contains("\n"))
    }

    @Test func missingRootIsNamed() {
        #expect(throws: KernelError.missingModule("nope")) {
            try ModuleOrder.loadOrder(roots: ["ext4", "nope"], available: Self.kernel)
        }
        #expect(KernelError.missingModule("nope").description.contains("nope"))
    }

    @Test func cycleIsReportedWithItsModules() {
        let g = Self.graph([
            ModuleInfo(name: "a", depends: ["b"]),
            ModuleInfo(name: "b", depends: ["c"]),
            ModuleInfo(name: "c", depends: ["a"]),
            ModuleInfo(name: "top", depends: ["a"]),
        ])
        #expect(throws: KernelError.cycle(["a", "b", "c", "a"])) {
            try ModuleOrder.loadOrder(roots: ["top"], available: g)
        }
        let message = KernelError.cycle(["a", "b", "c", "a"]).description
        #expect(message.contains("a -> b -> c -> a"))
    }

    @Test func softdepCycleIsDetectedToo() {
        let g = Self.graph([ModuleInfo(name: "x", softdepPre: ["y"]), ModuleInfo(name: "y", depends: ["x"])])
        #expect(throws: KernelError.self) { try ModuleOrder.loadOrder(roots: ["x"], available: g) }
    }

    @Test func selfSoftdepIsIgnored() throws {
        let g = Self.graph([ModuleInfo(name: "x", softdepPre: ["x"])])
        #expect(try ModuleOrder.loadOrder(roots: ["x"], available: g) == ["x"])
    }
}
