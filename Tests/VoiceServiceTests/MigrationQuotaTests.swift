import Logging
import Mobility
import NIOPosix
import OverlayCore
import PeerNode
import ServiceRuntime
import Synchronization
import Testing
import VoiceService

/// A peer binds sockets for a bounded number of migrations at once: a flood of `prepare`s from
/// anyone gets the rest refused before any socket is bound for them.
@Suite(.timeLimit(.minutes(1))) struct MigrationQuotaTests {
    @Test func preparesBeyondTheQuotaAreRefusedAsBusy() async throws {
        try await withEventLoops(1) { group in
            let sent = Mutex<[MigrationMessage]>([])
            let peer = PeerContext(
                name: PeerName("peer-9")!, seed: 1, address: "127.0.0.1", overlayAddress: "127.0.0.1:7000",
                group: group, logger: Logger(label: "quota-test"), emit: { _ in }, resolve: { _ in nil },
                register: { _ in false }, withdraw: { _ in },
                sendOverlay: { frame, _ in
                    if let message = try? MigrationMessage(frame: frame) { sent.withLock { $0.append(message) } }
                })
            let runtime = ServiceRuntime(kinds: [.voiceRelay])
            let identity = ServiceKind.voiceRelay.identity()
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await runtime.run(peer: peer) }
                let flood = 40
                for index in 0..<flood {
                    let prepare = MigrationMessage.prepare(
                        migration: UInt64(index + 1), service: "voice-\(index)", identity: identity, epoch: 1,
                        standbys: 0, source: MigrationMessage.Peer(name: "peer-1", overlay: "127.0.0.1:9"))
                    await runtime.receive(overlayFrame: prepare.frame, peer: peer)
                }
                let answered = try await eventually {
                    sent.withLock { $0.count } >= flood
                }
                #expect(answered)
                let busy = sent.withLock { messages in
                    messages.filter { if case .refuse(_, let reason) = $0 { reason.hasPrefix("busy") } else { false } }
                }
                #expect(busy.count == flood - 32)
                await runtime.finish(peer: peer)
                try await tasks.waitForAll()
            }
        }
    }
}
