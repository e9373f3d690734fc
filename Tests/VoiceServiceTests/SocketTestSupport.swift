import NIOPosix
import Voice
import VoiceService

/// Runs `body` with an event loop group of `threads` threads, shut down afterwards also when
/// `body` throws (a failed step must not leave the loops running into the next test).
func withEventLoops(_ threads: Int, _ body: (MultiThreadedEventLoopGroup) async throws -> Void) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    do {
        try await body(group)
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
    try await group.shutdownGracefully()
}

/// Whether `condition` came to hold, asked every 10 ms until `limit` passed. The socket tests
/// wait on what they can observe, never for a fixed time; `limit` only bounds a failure.
func eventually(within limit: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

extension VoiceClient {
    /// Says `samples` and returns when its last frame has left, with the spurt's first slot.
    func say(_ samples: [Int16]) async throws -> Int {
        let (spoken, done) = AsyncStream.makeStream(of: Never.self)
        let slot = try await speak(samples) { _ in done.finish() }
        for await _ in spoken {}
        return slot
    }

    /// Whether every one of `listeners` played out at least `count` frames of this client's.
    func reached(_ listeners: [VoiceClient], frames count: Int) async -> Bool {
        for listener in listeners where await listener.framesPlayed()[ssrc, default: 0] < count { return false }
        return true
    }
}
