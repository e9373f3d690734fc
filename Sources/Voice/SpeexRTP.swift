import RTP

/// Turns one speaker's Speex frames into RTP packets (RFC 3550 with the Speex payload format of
/// RFC 5574): one 20 ms frame per packet, a dynamic payload type, the clock rate equal to the
/// sampling rate, sequence numbers one apart and timestamps one frame apart, the marker bit on
/// the first packet of a talk spurt. A value without I/O.
public struct SpeexPacketizer: Sendable {
    public let band: SpeexBand
    public let ssrc: UInt32
    public let payloadType: UInt8
    public private(set) var sequenceNumber: UInt16
    public private(set) var timestamp: UInt32

    /// RFC 3550 wants random initial sequence numbers and timestamps; callers pass them (from the
    /// run's seeded generator) so a run replays.
    public init(band: SpeexBand, ssrc: UInt32, payloadType: UInt8 = 97, firstSequence: UInt16, firstTimestamp: UInt32) {
        precondition((96...127).contains(payloadType), "Speex uses a dynamic payload type (96-127)")
        self.band = band
        self.ssrc = ssrc
        self.payloadType = payloadType
        self.sequenceNumber = firstSequence
        self.timestamp = firstTimestamp
    }

    /// The packet for the next frame. `startsTalkSpurt` sets the marker bit.
    public mutating func packet(_ payload: [UInt8], startsTalkSpurt: Bool = false) -> RTPPacket {
        defer {
            sequenceNumber &+= 1
            timestamp &+= UInt32(band.frameSize)
        }
        return RTPPacket(
            marker: startsTalkSpurt, payloadType: payloadType, sequenceNumber: sequenceNumber, timestamp: timestamp,
            ssrc: ssrc, payload: payload)
    }

    /// A frame the speaker did not send (silence suppressed): time moves on, the sequence
    /// number does not (RFC 3550, 5.1).
    public mutating func skipFrame() { timestamp &+= UInt32(band.frameSize) }
}
