import NIOCore

/// An accepted connection on its way from the listening socket to the task that serves it.
///
/// A server `NIOAsyncChannel` buffers the connections it has accepted until its accept loop
/// takes them. When that loop ends first (graceful shutdown, cancellation), the buffered ones
/// are released without `executeThenClose`, and a `NIOAsyncChannel` made with
/// `wrappingChannelSynchronously` traps when its writer is released unfinished
/// ("Deinited NIOAsyncWriter without calling finish()", apple/swift-nio#3481), in release
/// builds too. So a probe arriving during SIGTERM's drain could turn a clean exit into a crash.
/// This box finishes the writer and closes the channel when its last reference goes; for a
/// connection that was served, both are no-ops by then.
public final class AcceptedAsyncChannel<Inbound: Sendable, Outbound: Sendable>: Sendable {
    public let connection: NIOAsyncChannel<Inbound, Outbound>

    /// Wraps a just-accepted channel; on its event loop, before its first read (as
    /// `NIOAsyncChannel(wrappingChannelSynchronously:)` requires).
    public init(wrappingChannelSynchronously channel: any Channel,
                configuration: NIOAsyncChannel<Inbound, Outbound>.Configuration = .init()) throws {
        self.connection = try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: configuration)
    }

    deinit {
        connection.outbound.finish()
        connection.channel.close(promise: nil)
    }
}
