import Foundation
import Testing
import TierCacheBackend

@testable import TierCacheSQLite

@Suite("Exact parameter comparison")
struct SQLiteBackendExactParameterTests {
    @Test("text keys with binary collation compare exactly; integer, real, numeric and NOCASE keys don't")
    func classification() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("exact-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let backend = try SQLiteBackend(path: directory.appendingPathComponent("t.db").path)
        defer { backend.close() }
        try backend.executeScript(
            """
            CREATE TABLE text_pk (id TEXT PRIMARY KEY, v TEXT);
            CREATE TABLE int_pk (id INTEGER PRIMARY KEY, v TEXT);
            CREATE TABLE int_col (k INTEGER, v TEXT);
            CREATE TABLE nocase_pk (k TEXT COLLATE NOCASE PRIMARY KEY, v TEXT);
            CREATE TABLE text_col (k TEXT, v TEXT);
            CREATE TABLE real_col (k REAL, v TEXT);
            CREATE TABLE blob_col (k BLOB, v TEXT);
            CREATE TABLE two (a TEXT, b TEXT, v TEXT, PRIMARY KEY (a, b));
            """
        )
        #expect(backend.comparesParametersExactly("SELECT v FROM text_pk WHERE id = ?"))
        #expect(backend.comparesParametersExactly("SELECT v FROM text_col WHERE k = ?"))
        #expect(backend.comparesParametersExactly("SELECT v FROM blob_col WHERE k = ?"))
        #expect(backend.comparesParametersExactly("SELECT v FROM two WHERE a = ? AND b = 'x'"))
        #expect(!backend.comparesParametersExactly("SELECT v FROM int_pk WHERE id = ?"))
        #expect(!backend.comparesParametersExactly("SELECT v FROM int_col WHERE k = ?"))
        #expect(!backend.comparesParametersExactly("SELECT v FROM nocase_pk WHERE k = ?"))
        #expect(!backend.comparesParametersExactly("SELECT v FROM real_col WHERE k = ?"))
        #expect(!backend.comparesParametersExactly("SELECT v FROM text_pk WHERE lower(id) = ?"))
        #expect(!backend.comparesParametersExactly("SELECT v FROM missing WHERE id = ?"))
    }
}
