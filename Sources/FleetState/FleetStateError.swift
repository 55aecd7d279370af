import PostgresNIO

/// Why a fleet database call failed. The message path treats every case the same (fall back to
/// the local share); the cases exist for logs, `/readyz` reasons and `check`.
public enum FleetStateError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The caller's bound passed. The statement may still finish on the server; what it granted
    /// is then given back (see `DatabaseCallGate`).
    case timedOut(operation: String, after: Duration)
    /// Too many calls are still waiting for the database; this one was not sent.
    case overloaded(operation: String, callsInFlight: Int)
    /// The database answered with an error, or could not be reached. PostgreSQL's code and
    /// message only: PostgresNIO's own descriptions are generic on purpose, and the server's
    /// messages never hold the password.
    case database(operation: String, detail: String)
    /// The database's schema is newer than this binary knows: an older replica must not write to it.
    case schemaTooNew(found: Int, known: Int)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .timedOut(let operation, let after): "fleet database: \(operation) took longer than \(after)"
        case .overloaded(let operation, let calls): "fleet database: \(operation) not sent, \(calls) calls still waiting for the database"
        case .database(let operation, let detail): "fleet database: \(operation) failed: \(detail)"
        case .schemaTooNew(let found, let known): "fleet database: schema version \(found) is newer than this binary's \(known); upgrade this replica"
        case .invalidArgument(let reason): "fleet database: \(reason)"
        }
    }

    static func wrap(_ error: any Error, operation: String) -> FleetStateError {
        switch error {
        case let error as FleetStateError: return error
        case let error as PSQLError: return .database(operation: operation, detail: detail(error))
        case let error as PostgresTransactionError:
            // The first of its steps that failed says why; the rest follow from it.
            guard let cause = error.beginError ?? error.closureError ?? error.commitError ?? error.rollbackError else {
                return .database(operation: operation, detail: "transaction failed")
            }
            return wrap(cause, operation: operation)
        case is CancellationError: return .database(operation: operation, detail: "cancelled")
        default: return .database(operation: operation, detail: "\(type(of: error))")
        }
    }

    private static func detail(_ error: PSQLError) -> String {
        if let info = error.serverInfo {
            let state = info[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return (info[.message] ?? "server error") + state
        }
        if let underlying = error.underlying {
            return "\(error.code): \(underlying)"
        }
        return "\(error.code)"
    }
}
