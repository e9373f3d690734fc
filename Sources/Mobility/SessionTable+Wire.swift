import OverlayCore

/// A session as a service's snapshot and operations write it: the client's name (255 bytes at
/// most), its token, and how many of its requests were applied.
extension SessionTable.Session {
    public init(from reader: inout WireReader) throws(WireError) {
        self.init(
            client: try reader.text(limit: 255), token: try reader.integer(), appliedThrough: try reader.integer())
    }

    public func write(to writer: inout WireWriter) {
        writer.text(client)
        writer.integer(token)
        writer.integer(appliedThrough)
    }
}
