import Logging
import NIOSSL
import Synchronization
import TierCachePolicy

/// The TLS server context every new TLS connection starts from, rebuilt from the files on SIGHUP or when they
/// change (`PolicyWatcher`): connections already open keep the context they began with, so a certificate renewal
/// drops none. A file that does not load leaves the running context in place and says why.
final class TLSContext: Sendable {
    let settings: TLSSettings
    private let current: Mutex<NIOSSLContext>
    /// The files' digest when `current` was built (or last tried).
    private let lastTried: Mutex<String>
    let reloads = Atomic<Int>(0)
    let failedReloads = Atomic<Int>(0)

    /// A certificate, key or CA file that does not load: what and why.
    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    init(_ settings: TLSSettings) throws(LoadError) {
        self.settings = settings
        current = Mutex(try Self.make(settings))
        lastTried = Mutex(Self.digest(settings))
    }

    /// A handler for a new connection, from the context in force now.
    func makeHandler() -> NIOSSLServerHandler {
        NIOSSLServerHandler(context: current.withLock { $0 })
    }

    /// Rebuilds the context from the files when they changed since the last try (or always, `force`).
    func reloadIfChanged(force: Bool, trigger: String, logger: Logger) {
        let digest = Self.digest(settings)
        let changed = lastTried.withLock { last in
            defer { last = digest }
            return last != digest
        }
        guard changed || force else { return }
        do {
            let context = try Self.make(settings)
            current.withLock { $0 = context }
            reloads.add(1, ordering: .relaxed)
            logger.notice(
                "TLS certificate reloaded", metadata: ["trigger": "\(trigger)", "file": "\(settings.certificateFile)"])
        } catch {
            failedReloads.add(1, ordering: .relaxed)
            logger.error(
                "TLS files refused; the certificate before them stays",
                metadata: ["trigger": "\(trigger)", "error": "\(error)"])
        }
    }

    private static func digest(_ settings: TLSSettings) -> String {
        settings.files.map(PolicyLoader.currentDigest(path:)).joined(separator: ",")
    }

    /// TLS 1.2 at least (swift-nio-ssl's default minimum is 1.0), the certificate chain and key, and the client
    /// rule with its CAs.
    static func make(_ settings: TLSSettings) throws(LoadError) -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(settings.certificateFile)
        } catch {
            throw LoadError(description: "cannot load --tls-cert-file \(settings.certificateFile): \(error)")
        }
        guard !chain.isEmpty else {
            throw LoadError(description: "--tls-cert-file \(settings.certificateFile) holds no PEM certificate")
        }
        do {
            key = try NIOSSLPrivateKey(file: settings.keyFile, format: .pem)
        } catch {
            throw LoadError(description: "cannot load --tls-key-file \(settings.keyFile): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        switch settings.clientAuthentication {
        case .no:
            configuration.certificateVerification = .none
        case .optional:
            configuration.certificateVerification = .optionalVerification
        case .yes:
            configuration.certificateVerification = .noHostnameVerification
        }
        if let ca = settings.caCertificateFile {
            do {
                let roots = try NIOSSLCertificate.fromPEMFile(ca)
                guard !roots.isEmpty else {
                    throw LoadError(description: "--tls-ca-cert-file \(ca) holds no PEM certificate")
                }
                configuration.trustRoots = .certificates(roots)
                configuration.sendCANameList = true
            } catch let error as LoadError {
                throw error
            } catch {
                throw LoadError(description: "cannot load --tls-ca-cert-file \(ca): \(error)")
            }
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw LoadError(description: "the TLS certificate and key do not make a context (do they match?): \(error)")
        }
    }
}
