import SMTPCore

/// Sends `count` messages round-robin over `clients` (a fleet's replicas), then quits them: how
/// many were relayed, and the first reply of each refused one.
func sendRoundRobin(_ count: Int, over clients: [TestSMTPClient]) async throws -> (relayed: Int, refused: [SMTPReply]) {
    var relayed = 0
    var refused: [SMTPReply] = []
    for index in 0..<count {
        let replies = try await clients[index % clients.count].send(to: ["a@example.net"], message: "Subject: \(index)\r\n\r\nx\r\n")
        if replies.last?.code == 250 {
            relayed += 1
        } else if let first = replies.first {
            refused.append(first)
        }
    }
    for client in clients { await client.quit() }
    return (relayed, refused)
}

extension SMTPReply {
    /// `451 4.7.1`: an account limit, the fleet's or the local one.
    var isAccountLimit: Bool { code == 451 && enhancedStatus == "4.7.1" }
}
