import Accounts
import ArgumentParser
import Foundation

/// `XOAUTH2_PROXY_<FLAG>` environment variables, turned into command-line options for the
/// subcommand being run unless the command line already has that option.
///
/// The option names come from the commands themselves (by reflection), so a new option is
/// settable from the environment without a second list to keep in step.
enum EnvironmentFlags {
    static let prefix = "XOAUTH2_PROXY_"

    struct Option: Hashable {
        var name: String
        var isFlag: Bool

        var variable: String { EnvironmentFlags.prefix + name.uppercased().replacingOccurrences(of: "-", with: "_") }
    }

    static func processEnvironment() -> [String: String] { ProcessInfo.processInfo.environment }

    static func apply(to arguments: [String], environment: [String: String]) -> [String] {
        let subcommands: [(String, any ParsableCommand.Type)] = [
            ("serve", ServeCommand.self), ("check", CheckCommand.self), ("demo", DemoCommand.self), ("sandbox", SandboxCommand.self),
            ("bench", BenchCommand.self),
        ]
        let chosen = subcommands.first { $0.0 == arguments.first }
        // Other subcommands (`authorize`, run by hand) take nothing from the environment: serve's
        // variables, set in the sidecar where an operator runs it with `kubectl exec`, would
        // become options it does not have.
        if chosen == nil, let first = arguments.first, !first.hasPrefix("-") { return arguments }
        let command = chosen?.1 ?? ServeCommand.self
        if arguments.contains(where: { $0 == "--help" || $0 == "-h" || $0 == "help" }) { return arguments }
        var result = arguments
        for option in options(of: command) {
            // These names belong to the account sources (a JSON document, one account's fields),
            // not to options such as bench's `--accounts FILE`.
            if option.variable.hasPrefix(AccountSourceLoader.accountVariablePrefix) || option.variable.hasPrefix(AccountSourceLoader.accountsVariable) { continue }
            guard let value = environment[option.variable] else { continue }
            let given = arguments.contains { $0 == "--\(option.name)" || $0.hasPrefix("--\(option.name)=") }
            if given { continue }
            if option.isFlag {
                if ["1", "true", "yes", "on"].contains(value.lowercased()) { result.append("--\(option.name)") }
            } else {
                result.append("--\(option.name)=\(value)")
            }
        }
        return result
    }

    /// The long option names of a command, from its property wrappers: `_maxMessageSize:
    /// Option<Int>` is `--max-message-size`.
    static func options(of command: any ParsableArguments.Type) -> [Option] {
        Mirror(reflecting: command.init()).children.flatMap { child -> [Option] in
            guard let label = child.label, label.hasPrefix("_") else { return [] }
            let typeName = String(describing: type(of: child.value))
            // Every option group, not a list of known ones: a group left off such a list loses its
            // environment variables without a word.
            if let group = type(of: child.value) as? any OptionGroupArguments.Type { return options(of: group.arguments) }
            let isFlag = typeName.hasPrefix("Flag<")
            guard isFlag || typeName.hasPrefix("Option<") else { return [] }
            return [Option(name: kebabCase(String(label.dropFirst())), isFlag: isFlag)]
        }
    }

    /// As ArgumentParser names options: a run of capitals is one word, so `stateURLFile` is
    /// `state-url-file`, not `state-u-r-l-file`.
    static func kebabCase(_ name: String) -> String {
        let characters = Array(name)
        var result = ""
        for (index, character) in characters.enumerated() {
            if character.isUppercase, index > 0 {
                let previous = characters[index - 1]
                let nextIsLower = index + 1 < characters.count && characters[index + 1].isLowercase
                if previous.isLowercase || previous.isNumber || (previous.isUppercase && nextIsLower) { result += "-" }
            }
            result += character.lowercased()
        }
        return result
    }
}

/// Lets reflection find the options inside any `@OptionGroup`.
protocol OptionGroupArguments {
    static var arguments: any ParsableArguments.Type { get }
}

extension OptionGroup: OptionGroupArguments {
    static var arguments: any ParsableArguments.Type { Value.self }
}
