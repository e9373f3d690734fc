/// The steps of a failover on the host that takes part in it, as `failover-phase` events
/// name them (a fault can be armed at each).
public enum FailoverPhase: String, Sendable, CaseIterable {
    /// It claims the next epoch: a standby whose primary fell silent (`quiet` since its
    /// last heartbeat), or a primary a standby's lease ran out on (`quiet` since it sent the
    /// last heartbeat that standby answered; it has sent nothing to a client since the lease
    /// ran out, and sends nothing until the registry answers).
    case claim
    /// The registry stored its claim: it serves under the new epoch, and has told no client
    /// yet.
    case claimed
    /// After a claim, it has as many standbys holding the state as it wants again, and its
    /// clients were told who they are.
    case restored
}
