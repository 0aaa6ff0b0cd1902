// How pen talks: messages on stderr, data on stdout, --json in one style, errors as one line.
import ArgumentParser
import Foundation
import PenCore

/// Messages for the user go to stderr; stdout is for data.
func say(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Runs body; any error becomes its one line (plus details) on stderr and a non-zero exit:
/// `exitCode`, or the error's own when it carries one other than 1.
func reportingErrors<T>(exitCode: Int32 = 1, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ExitCode {
        throw error
    } catch {
        let penError = PenError(error)
        penError.report.forEach { say("pen: " + $0) }
        throw ExitCode(penError.exitCode == 1 ? exitCode : penError.exitCode)
    }
}

/// `--json`, for every command whose output a script may read.
struct JSONOption: ParsableArguments {
    @Flag(help: "Print JSON on stdout (the same data, for scripts).")
    var json = false

    /// The value as JSON when asked for, else what `text` prints for people.
    func print<T: Encodable>(_ value: T, text: () throws -> Void) throws {
        if json {
            Swift.print(String(decoding: try PenJSON.encode(value), as: UTF8.self))
        } else {
            try text()
        }
    }
}

extension JSONOption {
    /// Rows as JSON when asked for, else a table of `columns` with `cells` for each row.
    func list<T: Encodable>(_ rows: [T], columns: [String], _ cells: (T) -> [String]) throws {
        try print(rows) { printTable(columns, rows.map(cells)) }
    }
}

/// Left-aligned columns, for people; scripts use --json.
func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    for row in all {
        print(row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  "))
    }
}

extension String {
    func ifEmpty(_ replacement: String) -> String { isEmpty ? replacement : self }
}
