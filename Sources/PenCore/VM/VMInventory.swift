// Every VM pen knows about, read from the VMs directory (for listings).
import Foundation

public enum VMInventory {
    /// The VMs with a readable record, by name.
    public static func records(paths: PenPaths) -> [VMRecord] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: paths.vms)) ?? []
        return names.sorted().compactMap { raw in
            guard let name = try? VMName(raw) else { return nil }
            return try? VMDirectory(paths: paths, name: name).load()
        }
    }
}
