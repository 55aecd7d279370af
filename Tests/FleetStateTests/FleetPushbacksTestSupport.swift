import FleetState
import Foundation
import NIOConcurrencyHelpers
import TestSupport

/// One replica's pushbacks with what its `apply` was handed, in order.
struct PushbackReplica {
    let pushbacks: FleetPushbacks
    private let received: NIOLockedValueBox<[FleetPushback]>

    var applied: [FleetPushback] { received.withLockedValue { $0 } }

    init(_ database: FleetDatabase, clock: WallClock, log: CapturedLog? = nil,
         configure: (inout FleetPushbacksConfiguration) -> Void = { _ in }) {
        var configuration = FleetPushbacksConfiguration()
        // A guard against a hang on a loaded machine, never a measurement.
        configuration.callTimeout = .seconds(60)
        configure(&configuration)
        let received = NIOLockedValueBox([FleetPushback]())
        self.received = received
        pushbacks = FleetPushbacks(database: database, configuration: configuration, logger: log?.logger ?? quietLogger,
                                   now: { clock.now }) { batch in
            received.withLockedValue { $0 += batch }
        }
    }

    /// Publishes and waits until the writer is done with it: written, found there already, or failed.
    func publishAndSettle(_ pushback: FleetPushback) async {
        pushbacks.publish(pushback)
        _ = await eventually { pushbacks.unwritten == 0 }
    }
}
