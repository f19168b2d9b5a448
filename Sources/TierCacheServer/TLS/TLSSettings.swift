/// TLS on the client port and the admin listener (`--tls-*`): the certificate files, whether clients must show a
/// certificate of their own, and where the TLS port listens.
public struct TLSSettings: Sendable, Hashable {
    /// Whether clients present a certificate, signed by the CA file (Redis' `tls-auth-clients`).
    public enum ClientAuthentication: String, Sendable, Hashable, CaseIterable {
        /// Not asked for.
        case no
        /// Checked when given; a client without one is served.
        case optional
        /// Required: a client without a valid one is refused in the handshake.
        case yes
    }

    /// PEM: the server's certificate, then any intermediates.
    public var certificateFile: String
    /// PEM: the certificate's private key.
    public var keyFile: String
    /// PEM: the CAs clients' certificates must chain to (needed for `optional` and `yes`).
    public var caCertificateFile: String?
    public var clientAuthentication: ClientAuthentication
    /// The TLS client port; nil: none (only the admin listener uses TLS).
    public var listen: ListenAddress?
    /// Whether the admin listener speaks HTTPS with the same certificate and client rule.
    public var admin: Bool

    public init(
        certificateFile: String, keyFile: String, caCertificateFile: String? = nil,
        clientAuthentication: ClientAuthentication = .no, listen: ListenAddress? = nil, admin: Bool = false
    ) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.caCertificateFile = caCertificateFile
        self.clientAuthentication = clientAuthentication
        self.listen = listen
        self.admin = admin
    }

    /// The files a change of which means a reload.
    var files: [String] { [certificateFile, keyFile] + (caCertificateFile.map { [$0] } ?? []) }
}
