import Testing

@testable import RTP

@Suite struct RTPPacketTests {
    static let samples: [RTPPacket] = [
        RTPPacket(payloadType: 97, sequenceNumber: 1, timestamp: 320, ssrc: 0x1A2B_3C4D, payload: [1, 2, 3]),
        RTPPacket(
            marker: true, payloadType: 127, sequenceNumber: 65535, timestamp: .max, ssrc: 7, csrcs: [1, 2],
            headerExtension: (0xBEDE, [9, 9, 9, 9, 9, 9, 9, 9]), payload: [0xFF], paddingLength: 3),
        RTPPacket(payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0, payload: []),
    ]

    @Test(arguments: samples)
    func roundTrip(packet: RTPPacket) throws {
        #expect(try RTPPacket(bytes: packet.bytes) == packet)
    }

    @Test func extensionDataIsPaddedToWholeWords() throws {
        let packet = RTPPacket(
            payloadType: 97, sequenceNumber: 1, timestamp: 2, ssrc: 3, headerExtension: (1, [9, 9, 9, 9, 9]),
            payload: [7])
        let decoded = try RTPPacket(bytes: packet.bytes)
        #expect(decoded.headerExtension?.data == [9, 9, 9, 9, 9, 0, 0, 0])
        #expect(decoded.payload == [7])
    }

    @Test func exactWireForm() {
        let packet = RTPPacket(
            marker: true, payloadType: 97, sequenceNumber: 0x0102, timestamp: 0x0304_0506, ssrc: 0x0708_090A,
            payload: [0xAA])
        #expect(packet.bytes == [0x80, 0xE1, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0xAA])
    }

    @Test(arguments: [
        ([UInt8](repeating: 0x80, count: 11), RTPPacket.DecodingError.tooShort(length: 11)),
        ([0x40] + [UInt8](repeating: 0, count: 11), .wrongVersion(1)),
        ([0x83] + [UInt8](repeating: 0, count: 15), .csrcsBeyondEnd(offset: 12)),
        ([0x90] + [UInt8](repeating: 0, count: 13), .extensionBeyondEnd(offset: 12)),
        ([0x90] + [UInt8](repeating: 0, count: 13) + [0x00, 0x02, 0, 0], .extensionBeyondEnd(offset: 14)),
        ([0xA0] + [UInt8](repeating: 0, count: 11) + [0, 0, 0], .badPadding(count: 0, offset: 14)),
        ([0xA0] + [UInt8](repeating: 0, count: 11) + [1, 9], .badPadding(count: 9, offset: 13)),
    ])
    func malformedPacketsAreTypedErrors(bytes: [UInt8], expected: RTPPacket.DecodingError) {
        #expect(throws: expected) { try RTPPacket(bytes: bytes) }
    }

    @Test func everyTruncationOfAValidPacketIsAnErrorOrAShorterPacketNeverACrash() {
        for original in Self.samples {
            let full = original.bytes
            for length in 0..<full.count {
                do {
                    // What still reads is the same header with less behind it.
                    let packet = try RTPPacket(bytes: Array(full.prefix(length)))
                    #expect(length >= 12)
                    #expect(packet.sequenceNumber == original.sequenceNumber && packet.ssrc == original.ssrc)
                    #expect(packet.csrcs == original.csrcs && packet.bytes.count <= length)
                } catch {
                    if length < 12 { #expect(error == .tooShort(length: length)) }
                }
            }
        }
    }
}

@Suite struct SequenceExtenderTests {
    @Test func countsOnAcrossWrapAround() {
        var extender = SequenceExtender()
        let extended = [65533, 65534, 65535, 0, 1, 2].map { extender.extend(UInt16($0)) }
        #expect(extended == [65533, 65534, 65535, 65536, 65537, 65538])
    }

    @Test func lateAndReorderedPacketsLandBeforeTheHighest() {
        var extender = SequenceExtender()
        #expect(extender.extend(65535) == 65535)
        #expect(extender.extend(1) == 65537)
        #expect(extender.extend(65534) == 65534)  // late, from the previous cycle
        #expect(extender.extend(0) == 65536)  // fills the gap
        #expect(extender.extend(2) == 65538)
    }
}
