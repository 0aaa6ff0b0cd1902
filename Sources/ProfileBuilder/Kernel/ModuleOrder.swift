// Computes which modules the guest must load and in what order, from .modinfo data
// alone (what depmod + modprobe would do), deterministically so that two builds of
// the same kernel produce byte-identical initrds.

public enum ModuleOrder {
    /// All modules needed to load `roots`: roots, their `depends` (recursively), and
    /// `softdep pre:` entries that name an available module.
    public static func closure(roots: [String], available: [String: ModuleInfo]) throws(KernelError) -> Set<String> {
        var needed = Set<String>()
        var queue: [String] = []
        for root in roots.map(ModuleInfo.normalize) {
            guard available[root] != nil else { throw .missingModule(root) }
            if needed.insert(root).inserted { queue.append(root) }
        }
        while let name = queue.popLast() {
            let info = available[name]! // only available names are ever queued
            for dep in info.depends {
                guard available[dep] != nil else { throw .missingDependency(dep, requiredBy: name) }
                if needed.insert(dep).inserted { queue.append(dep) }
            }
            // Soft dependencies are optional: pulled in only when the package has them.
            for soft in info.softdepPre where available[soft] != nil && soft != name {
                if needed.insert(soft).inserted { queue.append(soft) }
            }
        }
        return needed
    }

    /// Load order for `roots` and everything they need: each module after all its
    /// dependencies. Depth-first from each root in the order given (so a caller can put a
    /// bus driver such as virtio_mmio before the device drivers that sit on it), visiting
    /// dependencies in name order: the same input always gives the same order, and each
    /// root's helpers stay next to it.
    public static func loadOrder(roots: [String], available: [String: ModuleInfo]) throws(KernelError) -> [String] {
        try loadPlan(roots: roots, available: available).map(\.name)
    }

    /// The load order with, for each module, the modules that must be loaded before it (what
    /// lets the guest load independent modules side by side).
    public static func loadPlan(roots: [String], available: [String: ModuleInfo]) throws(KernelError) -> [PlannedModule] {
        let needed = try closure(roots: roots, available: available)

        // A softdep may name an alias ("crypto-crc32c") rather than a module; if a module
        // providing it is being loaded anyway, load it first, but never pull in more modules.
        var providers: [String: [String]] = [:]
        for name in needed {
            for alias in available[name]!.aliases { providers[alias, default: []].append(name) }
        }

        func edges(_ name: String) -> [String] {
            let info = available[name]!
            var out = Set(info.depends)
            for soft in info.softdepPre {
                if available[soft] != nil {
                    out.insert(soft)
                } else {
                    out.formUnion(providers[soft] ?? [])
                }
            }
            out.remove(name)
            return out.sorted()
        }

        enum Mark { case visiting, done }
        var marks: [String: Mark] = [:]
        var order: [String] = []
        var path: [String] = []

        func visit(_ name: String) throws(KernelError) {
            switch marks[name] {
            case .done?: return
            case .visiting?:
                let start = path.firstIndex(of: name)!
                throw .cycle(Array(path[start...]) + [name])
            case nil: break
            }
            marks[name] = .visiting
            path.append(name)
            for dep in edges(name) { try visit(dep) }
            path.removeLast()
            marks[name] = .done
            order.append(name)
        }

        for root in roots.map(ModuleInfo.normalize) { try visit(root) } // repeats are no-ops
        return order.map { PlannedModule(name: $0, needs: edges($0)) }
    }
}

public struct PlannedModule: Sendable, Equatable {
    public var name: String
    /// Modules loaded before this one (its dependencies and soft dependencies present).
    public var needs: [String]
}
