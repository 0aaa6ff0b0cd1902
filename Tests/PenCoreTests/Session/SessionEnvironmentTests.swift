import Testing
@testable import PenCore

@Suite struct SessionEnvironmentTests {
    @Test func collectsEnvironmentFromFlagsAndHost() throws {
        let env = try SessionEnvironment.collect(pairs: ["A=1", "B=x=y", "EMPTY="], fromHost: ["TOKEN"], host: ["TOKEN": "s3"])
        #expect(env == ["A=1", "B=x=y", "EMPTY=", "TOKEN=s3"])
    }


    @Test(arguments: [(["NOEQUALS"], [String]()), (["1A=x"], []), (["=x"], []), (["A-B=x"], []), ([], ["MISSING"]), ([], ["BAD KEY"])])
    func rejectsBadEnvironment(_ pairs: [String], _ keys: [String]) {
        #expect(throws: PenError.self) { try SessionEnvironment.collect(pairs: pairs, fromHost: keys, host: [:]) }
    }

}
