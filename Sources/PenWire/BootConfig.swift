// What the host tells the guest once per boot, and its encoding as frames. The sessions that
// run in the VM come later, each with its own `open` (see SessionRequest).

public enum RootMode: String, Codable, Sendable {
    /// The VM's overlay disk over the image: a persistent root.
    case overlay
    /// No disk: work in the image's own root, in RAM (a builder VM, whose root is then streamed out).
    case image
}

public struct BootConfig: Codable, Equatable, Sendable {
    public var rootMode: RootMode
    public var hostname: String
    /// The first-boot setup script; it runs once per VM, before the first session's work.
    public var setupScript: String?
    /// The 9p mount tag of the shared workspace (mounted at `GuestContract.workspaceMountPoint`), if any.
    public var workspaceTag: String?
    /// The guest's network goes through pen: no network device, its connections and DNS
    /// queries carried to the host on `GuestContract.networkPort` (see NetFrame.swift).
    public var networkPolicy: Bool

    public init(rootMode: RootMode = .overlay, hostname: String, setupScript: String? = nil, workspaceTag: String? = nil,
                networkPolicy: Bool = false) {
        self.rootMode = rootMode
        self.hostname = hostname
        self.setupScript = setupScript
        self.workspaceTag = workspaceTag
        self.networkPolicy = networkPolicy
    }

    public func frames() -> [Frame] {
        var out = [Frame.hello, Frame(.rootMode, text: rootMode.rawValue),
                   Frame(.hostname, text: hostname)]
        if let setupScript { out.append(Frame(.setupScript, text: setupScript)) }
        if let workspaceTag { out.append(Frame(.workspace, text: workspaceTag)) }
        if networkPolicy { out.append(Frame(.networkPolicy)) }
        out.append(Frame(.start))
        return out
    }
}

/// Builds a BootConfig from frames; returns true once `start` arrived.
public struct BootConfigAssembler: Sendable {
    public private(set) var config = BootConfig(hostname: "pen")
    public init() {}

    public mutating func apply(_ frame: Frame) throws(WireError) -> Bool {
        switch frame.kind {
        case .hello: try frame.checkHello()
        case .rootMode:
            guard let m = RootMode(rawValue: frame.text) else { throw .badValue(.rootMode, frame.text) }
            config.rootMode = m
        case .setupScript: config.setupScript = frame.text
        case .hostname: config.hostname = frame.text
        case .workspace: config.workspaceTag = frame.text
        case .networkPolicy: config.networkPolicy = true
        case .start: return true
        default: throw .unexpected(frame.kind)
        }
        return false
    }
}
