import SFHABase
import Testing

@Suite("SHA-256", .timeLimit(.minutes(2)))
struct SHA256Tests {
    // FIPS 180-4 / NIST CSRC example vectors ("SHA_All.pdf", SHA-256 section).
    @Test func fipsOneBlockMessage() {
        #expect(SHA256Hasher.hexDigest("abc")
            == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func fipsTwoBlockMessage() {
        #expect(SHA256Hasher.hexDigest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func emptyMessage() {
        #expect(SHA256Hasher.hexDigest("")
            == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func fips896BitMessage() {
        let message = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
            + "mnopqrstnopqrstu"
        #expect(SHA256Hasher.hexDigest(message)
            == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    @Test func fipsOneMillionA() {
        var hasher = SHA256Hasher()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(chunk) }
        #expect(SHA256Hasher.hex(hasher.finalize())
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Lengths around the padding boundaries (55/56 bytes: the length field fits or spills into a second block;
    /// 63/64/65: whole-block edges). Reference values from coreutils `sha256sum`.
    @Test(arguments: [
        (55, "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072"),
        (56, "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e"),
        (63, "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2"),
        (64, "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c"),
        (65, "9537c5fdf120482f7d58d25e9ed583f52c02b4e304ea814db1633ad565aed7e9"),
        (119, "000b48d4edf0fa7bee3c6236ecd2785baa5db4eeb8bb54341b029e0d9fa5fb0c"),
        (128, "24da1b81d0b16df6428eee73c69fcb2a93c76bc6df706f0c6670fe6bfe800464"),
    ])
    func paddingBoundaries(length: Int, expected: String) {
        let message = [UInt8](repeating: UInt8(ascii: "x"), count: length)
        #expect(SHA256Hasher.hexDigest(message) == expected)
    }

    @Test func incrementalUpdatesMatchOneShot() {
        let message = Array((0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) })
        let expected = SHA256Hasher.digest(message)
        for split in [0, 1, 55, 63, 64, 65, 128, 299, 300] {
            var hasher = SHA256Hasher()
            hasher.update(message[0..<split])
            hasher.update(message[split...])
            #expect(hasher.finalize() == expected, "split at \(split)")
        }
    }

    @Test func finalizeDoesNotConsumeTheHasher() {
        var hasher = SHA256Hasher()
        hasher.update("The quick brown fox ")
        _ = hasher.finalize()
        hasher.update("jumps over the lazy dog")
        #expect(SHA256Hasher.hex(hasher.finalize())
            == "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592")
    }

    @Test func stringsAreHashedAsUTF8() {
        #expect(SHA256Hasher.hexDigest("héllo €")
            == "9cb52b6d1cfc1eae34c63c2b0ff0d49ed8ef2c82482b3c455747594c83754098")
        #expect(SHA256Hasher.digest("héllo €").count == SHA256Hasher.digestByteCount)
    }
}
