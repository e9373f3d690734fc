/// An event of one service kind's own vocabulary (the voice relay's `heard`, the game's
/// `game-input`): the kind's processes emit it and its analysis reads it. The control protocol
/// carries it as `Event.other` by name and members, so it knows no kind and an event log
/// written before a kind changed still reads.
public protocol KindEvent: Sendable, Equatable {
    /// Reads the event from a line's name and members: nil when the name is not one of the
    /// kind's, or a member is missing or mistyped.
    init?(name: String, fields: [String: JSONValue])
    /// The `event` member of its line.
    var name: String { get }
    /// Its own members (everything but `t`, `peer` and `event`).
    var fields: [String: JSONValue] { get }
}

extension KindEvent {
    /// The event as the control protocol carries it.
    public var event: Event { .other(name: name, fields: fields) }
}

extension Event {
    /// This event in the vocabulary of `Vocabulary`, when it is one of its.
    public func `as`<Vocabulary: KindEvent>(_: Vocabulary.Type) -> Vocabulary? {
        guard case .other(let name, let fields) = self else { return nil }
        return Vocabulary(name: name, fields: fields)
    }
}
