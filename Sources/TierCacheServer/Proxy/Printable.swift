/// Bytes from a client or from Redis for a message or a log line: at most 64 bytes, non-printable ones escaped.
func printable(_ bytes: some Collection<UInt8>) -> String {
    var text = ""
    for byte in bytes.prefix(64) {
        if byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "'") {
            text.unicodeScalars.append(UnicodeScalar(byte))
        } else {
            text += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }
    }
    if bytes.count > 64 { text += "…" }
    return text
}
