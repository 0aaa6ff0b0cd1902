// What the commands build from pen's settings: main has read and checked them (a bad PEN_*
// value stops pen before any command runs); every command hands them down from here.
import PenCore
import PenLaunch

extension Settings {
    /// This pen's settings, as main checked them.
    static var cli: Settings { .current }
}

/// The launcher of this host, with this pen's settings.
func launcher() -> Launcher {
    Launcher(host: .current(.cli), say: say)
}
