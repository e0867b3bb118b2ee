#include "project/Database.h"

#include "util/Error.h"

#include <sqlite3.h>

namespace medsiam::core {

Database::Database(const std::string& path, bool readOnly) : m_path(path), m_readOnly(readOnly)
{
    const int flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path.c_str(), &m_db, flags, nullptr) != SQLITE_OK) {
        const std::string why = m_db ? sqlite3_errmsg(m_db) : "out of memory";
        sqlite3_close(m_db);
        m_db = nullptr;
        throw UserError("cannot open project database '" + path + "': " + why);
    }
    sqlite3_busy_timeout(m_db, 10000);
    if (!readOnly) {
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=NORMAL");
    }
    exec("PRAGMA foreign_keys=ON");
}

Database::~Database()
{
    m_statements.clear(); // finalized before the connection closes
    sqlite3_close(m_db);
}

Database::Statement& Database::cached(const std::string& sql)
{
    auto it = m_statements.find(sql);
    if (it == m_statements.end())
        it = m_statements.emplace(sql, std::make_unique<Statement>(*this, sql)).first;
    else
        it->second->reset();
    return *it->second;
}

namespace {

[[noreturn]] void throwFor(int code, const std::string& message)
{
    if ((code & 0xff) == SQLITE_FULL)
        throw DiskFullError(message + "; the last change was not saved, everything before it is kept");
    if ((code & 0xff) == SQLITE_READONLY)
        throw UserError(message + " (the project is open read-only: nothing can be changed)");
    throw UserError(message);
}

} // namespace

void Database::fail(const std::string& what) const
{
    throwFor(sqlite3_extended_errcode(m_db), what + " (" + m_path + "): " + sqlite3_errmsg(m_db));
}

void Database::exec(const std::string& sql)
{
    char* err = nullptr;
    const int rc = sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        const std::string why = err ? err : "unknown error";
        sqlite3_free(err);
        throwFor(rc, "database error (" + m_path + "): " + why);
    }
}

int64_t Database::lastInsertId() const { return sqlite3_last_insert_rowid(m_db); }
int Database::changes() const { return sqlite3_changes(m_db); }

int Database::userVersion() { return static_cast<int>(scalar("PRAGMA user_version")); }
void Database::setUserVersion(int version) { exec("PRAGMA user_version=" + std::to_string(version)); }

int64_t Database::scalar(const std::string& sql)
{
    Statement s(*this, sql);
    return s.step() ? s.columnInt(0) : 0;
}

Database::Statement::Statement(Database& db, const std::string& sql) : m_db(&db)
{
    if (sqlite3_prepare_v2(db.m_db, sql.c_str(), -1, &m_stmt, nullptr) != SQLITE_OK)
        db.fail("cannot prepare query");
}

Database::Statement::Statement(Statement&& o) noexcept : m_db(o.m_db), m_stmt(o.m_stmt) { o.m_stmt = nullptr; }

Database::Statement::~Statement() { sqlite3_finalize(m_stmt); }

Database::Statement& Database::Statement::bind(int i, int64_t v)
{
    if (sqlite3_bind_int64(m_stmt, i, v) != SQLITE_OK)
        m_db->fail("cannot bind value");
    return *this;
}

Database::Statement& Database::Statement::bind(int i, double v)
{
    if (sqlite3_bind_double(m_stmt, i, v) != SQLITE_OK)
        m_db->fail("cannot bind value");
    return *this;
}

Database::Statement& Database::Statement::bind(int i, const std::string& v)
{
    if (sqlite3_bind_text(m_stmt, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
        m_db->fail("cannot bind value");
    return *this;
}

Database::Statement& Database::Statement::bindNull(int i)
{
    if (sqlite3_bind_null(m_stmt, i) != SQLITE_OK)
        m_db->fail("cannot bind value");
    return *this;
}

bool Database::Statement::step()
{
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    m_db->fail("database query failed");
}

void Database::Statement::run()
{
    step();
    reset();
}

void Database::Statement::reset()
{
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
}

int64_t Database::Statement::columnInt(int c) const { return sqlite3_column_int64(m_stmt, c); }
double Database::Statement::columnDouble(int c) const { return sqlite3_column_double(m_stmt, c); }
bool Database::Statement::columnIsNull(int c) const { return sqlite3_column_type(m_stmt, c) == SQLITE_NULL; }

std::string Database::Statement::columnText(int c) const
{
    const auto* p = sqlite3_column_text(m_stmt, c);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(m_stmt, c))) : std::string();
}

Database::Transaction::Transaction(Database& db) : m_db(db) { m_db.exec("BEGIN IMMEDIATE"); }

Database::Transaction::~Transaction()
{
    if (!m_done) {
        try {
            m_db.exec("ROLLBACK");
        } catch (...) {
        }
    }
}

void Database::Transaction::commit()
{
    m_db.exec("COMMIT");
    m_done = true;
}

} // namespace medsiam::core
