import OverlayCore

/// A session as a service's snapshot and operations write it: the client's name (255 bytes at
/// most), its token, and how many of its requests were applied.
extension SessionTable.Session {
    public init(from reader: inout WireReader) throws(WireError) {
        self.init(
            client: try reader.text(limit: 255), token: try reader.token(), appliedThrough: try reader.integer())
    }

    public func write(to writer: inout WireWriter) {
        writer.text(client)
        writer.token(token)
        writer.integer(appliedThrough)
    }
}

/// The table as snapshots write it: a 16-bit count, then each session's id and session, by id.
extension SessionTable {
    /// Sessions outlive their clients (a session is never forgotten, so a late request is still
    /// recognised): as many as the 16-bit count holds, which also bounds what a decoder allocates.
    public static let maximumSessions = Int(UInt16.max)

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
        for _ in 0..<count { set(try reader.session(), try Session(from: &reader)) }
    }
}
