/// Where bytes stop being UTF-8: files and lines a user or a peer hands the testbed are read
/// as bytes, and a bad byte is reported by its offset instead of failing somewhere without one.
public enum UTF8Validation {
    /// The index of the first byte that does not begin or continue a well-formed UTF-8
    /// sequence (overlong forms, surrogates and values above U+10FFFF included), or nil.
    public static func firstInvalidByte<Bytes: Collection>(in bytes: Bytes) -> Bytes.Index?
    where Bytes.Element == UInt8 {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var index = bytes.startIndex
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar):
                index = bytes.index(index, offsetBy: scalar.count)
            case .error:
                return index
            case .emptyInput:
                return nil
            }
        }
    }
}
