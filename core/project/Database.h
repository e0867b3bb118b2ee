#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

namespace medsiam::core {

/// A thin owner of one SQLite connection: WAL journal, foreign keys on, a busy timeout so
/// that a reader in another process (the GUI) does not fail a writer (the CLI).
/// A connection is used by one thread at a time.
class Database {
public:
    /// Opens or creates the database file (read-only: opens an existing one and refuses every
    /// write). Throws UserError naming the file.
    explicit Database(const std::string& path, bool readOnly = false);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    /// A prepared statement. Bind indices are 1-based, column indices 0-based.
    class Statement {
    public:
        Statement(Database& db, const std::string& sql);
        ~Statement();
        Statement(const Statement&) = delete;
        Statement& operator=(const Statement&) = delete;
        Statement(Statement&& other) noexcept;

        Statement& bind(int index, int64_t value);
        Statement& bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
        Statement& bind(int index, double value);
        Statement& bind(int index, const std::string& value);
        Statement& bind(int index, const char* value) { return bind(index, std::string(value)); }
        Statement& bindNull(int index);
        /// Advances; true while a row is available. Throws UserError on failure.
        bool step();
        /// Runs a statement that returns no rows, then resets it for reuse.
        void run();
        void reset();
        int64_t columnInt(int col) const;
        double columnDouble(int col) const;
        std::string columnText(int col) const;
        bool columnIsNull(int col) const;

    private:
        Database* m_db;
        sqlite3_stmt* m_stmt = nullptr;
    };

    /// Begins an IMMEDIATE transaction; rolls back on destruction unless commit() was called.
    class Transaction {
    public:
        explicit Transaction(Database& db);
        ~Transaction();
        void commit();

    private:
        Database& m_db;
        bool m_done = false;
    };

    void exec(const std::string& sql);
    Statement prepare(const std::string& sql) { return Statement(*this, sql); }
    /// The statement for `sql`, prepared on first use and kept for the connection's life, reset
    /// and with its bindings cleared: for statements run once per imported image, where preparing
    /// each time was a visible part of the import.
    Statement& cached(const std::string& sql);
    int64_t lastInsertId() const;
    int changes() const;
    int userVersion();
    void setUserVersion(int version);
    /// Runs a single-value query and returns the first column of the first row (0 when none).
    int64_t scalar(const std::string& sql);
    const std::string& path() const { return m_path; }
    /// Throws UserError with SQLite's message for this connection (DiskFullError when the disk
    /// is full).
    [[noreturn]] void fail(const std::string& what) const;
    bool readOnly() const { return m_readOnly; }

private:
    sqlite3* m_db = nullptr;
    std::string m_path;
    bool m_readOnly = false;
    std::unordered_map<std::string, std::unique_ptr<Statement>> m_statements;
};

} // namespace medsiam::core
