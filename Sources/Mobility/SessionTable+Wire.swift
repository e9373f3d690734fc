import OverlayCore

/// A session as a service's snapshot and operations write it: the client's name
/// (`maximumClientBytes` at most), its token, how many of its requests were applied, and when it
/// was last active.
extension SessionTable.Session {
    public init(from reader: inout WireReader) throws(WireError) {
        self.init(
            client: try reader.text(limit: SessionMessage.maximumClientBytes), token: try reader.token(),
            appliedThrough: try reader.sequence(), lastActive: try reader.sequence())
    }

    public func write(to writer: inout WireWriter) {
        writer.text(client)
        writer.token(token)
        writer.integer(appliedThrough)
        writer.integer(lastActive)
    }
}

/// One session's change as operations write it: its id, a flag (1: its new value follows, 0:
/// it was removed), then the value.
public enum SessionChange {
    public static func write(_ id: SessionID, _ session: SessionTable.Session?, to writer: inout WireWriter) {
        writer.session(id)
        writer.integer(UInt8(session == nil ? 0 : 1))
        session?.write(to: &writer)
    }

    public static func read(from reader: inout WireReader) throws(WireError) -> (
        id: SessionID, session: SessionTable.Session?
    ) {
        let id = try reader.session()
        let present = try reader.integer(UInt8.self)
        guard present <= 1 else { throw .invalid("session flag \(present)", offset: reader.offset - 1) }
        return (id, present == 1 ? try SessionTable.Session(from: &reader) : nil)
    }
}

/// The table as snapshots write it: a 16-bit count, then each session's id and session, by id.
extension SessionTable {
    /// A table holds at most this many sessions (`handle` makes room), and a snapshot with more
    /// is malformed: at 114 bytes each at most (a 64-byte client name), 29 kB, so a service's
    /// snapshot stays inside a migration frame (65,000 bytes) however many clients come and go.
    public static let maximumSessions = 256

    public func write(to writer: inout WireWriter) {
        writer.integer(UInt16(clamping: sessions.count))
        for (id, session) in sessions.sorted(by: { $0.key < $1.key }).prefix(Int(UInt16.max)) {
            writer.session(id)
            session.write(to: &writer)
        }
    }

    /// More than `limit` sessions is malformed.
    public init(from reader: inout WireReader, limit: Int) throws(WireError) {
        let offset = reader.offset
        let count = Int(try reader.integer(UInt16.self))
        guard count <= limit else { throw .invalid("\(count) sessions", offset: offset) }
        self.init()
        for _ in 0..<count {
            let idOffset = reader.offset
            let id = try reader.session()
            // The writer lists each session once, by id: a repeated id is not a table.
            guard sessions[id] == nil else { throw .invalid("session \(id) twice", offset: idOffset) }
            set(id, try Session(from: &reader))
        }
    }
}
