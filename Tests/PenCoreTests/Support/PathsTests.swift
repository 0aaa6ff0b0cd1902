import Testing
@testable import PenCore

@Suite struct PathsTests {
    @Test func penHomeHoldsEverything() {
        let p = PenPaths(environment: ["PEN_HOME": "/x/home", "HOME": "/home/u"])
        #expect(p.profiles == "/x/home/profiles" && p.images == "/x/home/images" && p.vms == "/x/home/vms")
        let shared = PenPaths(environment: ["PEN_HOME": "/x/home", "PEN_IMAGES": "/cache/img"])
        #expect(shared.images == "/cache/img" && shared.vms == "/x/home/vms")
    }

    @Test func xdgLocationsByDefault() {
        let p = PenPaths(environment: ["HOME": "/home/u"])
        #expect(p.profiles == "/home/u/.config/pen/profiles")
        #expect(p.images == "/home/u/.cache/pen/images")
        #expect(p.vms == "/home/u/.local/share/pen/vms")
        let x = PenPaths(environment: ["HOME": "/home/u", "XDG_CONFIG_HOME": "/c", "XDG_CACHE_HOME": "/k",
                                       "XDG_DATA_HOME": "relative/ignored"])
        #expect(x.profiles == "/c/pen/profiles" && x.images == "/k/pen/images")
        #expect(x.vms == "/home/u/.local/share/pen/vms")
    }
}
