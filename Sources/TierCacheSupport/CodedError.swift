/// The shape of every error of ours: a code for programs (tests, breakers, reply prefixes) to tell errors apart
/// without matching text, and a message written for the person who reads it.
public protocol CodedError: Error, Sendable, CustomStringConvertible {
    associatedtype Code: ErrorCode
    var code: Code { get }
    var message: String { get }
}

extension CodedError {
    public var description: String { message }
}

/// An error's code: a closed set of names, shown as themselves (`busy`, `invalidYAML`).
public protocol ErrorCode: RawRepresentable<String>, Sendable, Hashable, CustomStringConvertible {}

extension ErrorCode {
    public var description: String { rawValue }
}
