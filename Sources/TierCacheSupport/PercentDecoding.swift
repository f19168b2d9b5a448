/// URL percent-decoding (`%40` is `@`), for the parts of the URLs TierCache is given (`--redis`, `--database`).
public enum PercentDecoding {
    /// The bytes `text` stands for; nil when a `%` is not followed by two hex digits.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var bytes: [UInt8] = []
        var utf8 = Substring(text).utf8[...]
        while let byte = utf8.popFirst() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = utf8.popFirst().flatMap(Hex.value(of:)), let low = utf8.popFirst().flatMap(Hex.value(of:)) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return bytes
    }
}
