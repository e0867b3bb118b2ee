#include "project/Project.h"

#include "project/ProjectBackup.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include "util/Error.h"
#include "util/Text.h"

#include <filesystem>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace medsiam::core {

namespace {

const char* kDatabaseName = "project.sqlite";

// migrations[i] takes the schema from version i to i + 1. Append, never edit.
const char* kMigrations[] = {
    R"SQL(
CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE images(
    id INTEGER PRIMARY KEY,
    source_path TEXT NOT NULL,
    relative_path TEXT NOT NULL,
    format TEXT NOT NULL,
    modality TEXT NOT NULL DEFAULT '',
    patient_id TEXT NOT NULL DEFAULT '',
    study_uid TEXT NOT NULL DEFAULT '',
    series_uid TEXT NOT NULL DEFAULT '',
    sop_uid TEXT NOT NULL DEFAULT '',
    frame_index INTEGER NOT NULL DEFAULT 0,
    frame_count INTEGER NOT NULL DEFAULT 1,
    rows INTEGER NOT NULL,
    columns INTEGER NOT NULL,
    bits INTEGER NOT NULL,
    photometric TEXT NOT NULL DEFAULT '',
    transfer_syntax TEXT NOT NULL DEFAULT '',
    content_hash TEXT NOT NULL,
    imported_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX images_hash ON images(content_hash, frame_index);
CREATE INDEX images_patient ON images(patient_id);
CREATE INDEX images_sop ON images(sop_uid);
CREATE INDEX images_source ON images(source_path);
CREATE TABLE classes(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    color TEXT NOT NULL DEFAULT '',
    shortcut TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE labels(
    image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    source TEXT NOT NULL DEFAULT 'user',
    updated_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX labels_class ON labels(class_id);
CREATE TABLE splits(
    image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    split TEXT NOT NULL CHECK(split IN ('train','val','test'))
);
CREATE TABLE import_issues(
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    reason TEXT NOT NULL,
    recorded_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE cache_entries(
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    resolution INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    channels INTEGER NOT NULL,
    content_x INTEGER NOT NULL,
    content_y INTEGER NOT NULL,
    content_w INTEGER NOT NULL,
    content_h INTEGER NOT NULL,
    PRIMARY KEY(image_id, resolution)
);
)SQL",
    // 2: training runs and their per-image predictions
    R"SQL(
CREATE TABLE runs(
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    parent TEXT NOT NULL DEFAULT '',
    config TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    updated_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE predictions(
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    split TEXT NOT NULL,
    truth INTEGER,
    probabilities TEXT NOT NULL,
    PRIMARY KEY(run_id, image_id)
);
)SQL",
    // 3: stored embeddings (the matrices live in runs/<id>/embeddings.npy)
    R"SQL(
CREATE TABLE embeddings(
    run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    checkpoint_step INTEGER NOT NULL,
    count INTEGER NOT NULL,
    dim INTEGER NOT NULL,
    input_size INTEGER NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
)SQL",
    // 4: the axis a volume's slices were cut along, so that a viewer shows the same slices
    R"SQL(
ALTER TABLE images ADD COLUMN slice_axis INTEGER NOT NULL DEFAULT -1;
)SQL",
    // 5: the end of each cache file is found from its index inside the writing transaction;
    // an imported file can carry a warning (severity 'warning') beside the files not imported
    R"SQL(
CREATE INDEX cache_entries_end ON cache_entries(resolution, offset);
ALTER TABLE import_issues ADD COLUMN severity TEXT NOT NULL DEFAULT 'error';
)SQL",
    // 6: a run's name and notes, given by the user
    R"SQL(
ALTER TABLE runs ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT '';
)SQL",
};
constexpr int kMigrationCount = static_cast<int>(sizeof(kMigrations) / sizeof(kMigrations[0]));
static_assert(kMigrationCount == Project::kSchemaVersion, "one migration per schema version");

std::vector<std::pair<std::string, int64_t>> counts(Database& db, const std::string& sql)
{
    std::vector<std::pair<std::string, int64_t>> out;
    auto s = db.prepare(sql);
    while (s.step())
        out.emplace_back(s.columnText(0), s.columnInt(1));
    return out;
}

} // namespace

Project::Project(std::string dir, std::unique_ptr<Database> db, std::shared_ptr<FileLock> lock)
    : m_dir(std::move(dir)), m_lock(std::move(lock)), m_db(std::move(db))
{
}

Project::~Project()
{
    if (m_lock && m_lock.use_count() == 1)
        backupProject(*this); // never throws
}

bool Project::exists(const std::string& dir) { return fs::is_regular_file(fs::path(dir) / kDatabaseName); }

std::string projectDatabasePath(const std::string& dir) { return (fs::path(dir) / kDatabaseName).string(); }

std::shared_ptr<FileLock> lockProjectForWriting(const std::string& dir)
{
    LockOwner owner;
    auto lock = FileLock::tryAcquire((fs::path(dir) / "project.lock").string(), true, &owner);
    if (!lock)
        throw ProjectBusyError("the project '" + dir + "' is being changed by " + owner.describe() +
                                   "; wait until it has finished, or open the project read-only",
                               owner);
    return lock;
}

std::optional<LockOwner> Project::writer(const std::string& dir)
{
    return FileLock::currentOwner((fs::path(dir) / "project.lock").string());
}

namespace {

/// Refuses a catalogue file that SQLite would silently treat as a new, empty database (0 bytes)
/// or that is not a database at all, before anything writes to it.
void checkDatabaseFile(const std::string& dir, const std::string& path)
{
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    const std::string advice = " Nothing was changed. Restore a backup with `medsiam-cli repair " + dir +
                               " --restore` (or File > Open Project in the desktop app, which offers it).";
    if (ec)
        throw UserError("cannot read '" + path + "': " + ec.message());
    if (size == 0)
        throw DamagedProjectError("the project's catalogue '" + path + "' is empty (0 bytes): it was lost, perhaps in a crash "
                                  "or on a full disk." + advice);
    char head[16] = {};
    {
        std::ifstream in(path, std::ios::binary);
        in.read(head, sizeof head);
        if (in.gcount() < static_cast<std::streamsize>(sizeof head) || std::memcmp(head, "SQLite format 3", 16) != 0)
            throw DamagedProjectError("the project's catalogue '" + path + "' is not an SQLite database (damaged or "
                                      "overwritten)." + advice);
    }
}

bool isCorruption(const std::string& message)
{
    return message.find("malformed") != std::string::npos || message.find("not a database") != std::string::npos ||
           message.find("corrupt") != std::string::npos;
}

} // namespace

std::unique_ptr<Project> Project::create(const std::string& dir, int cacheResolution)
{
    if (cacheResolution < 16 || cacheResolution > 4096)
        throw UserError("cache resolution must be between 16 and 4096 pixels, got " + std::to_string(cacheResolution));
    if (exists(dir))
        throw UserError("a medsiam project already exists in '" + dir + "'");
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
        throw UserError("'" + dir + "' exists and is not a folder");
    fs::create_directories(fs::path(dir) / "cache", ec);
    if (ec)
        throw UserError("cannot create project folder '" + dir + "': " + ec.message());
    const std::string abs = fs::absolute(dir).lexically_normal().string();
    auto lock = lockProjectForWriting(abs);
    if (exists(abs)) // another program created it while this one waited for the folder
        throw UserError("a medsiam project already exists in '" + dir + "'");
    auto p = std::unique_ptr<Project>(new Project(abs, std::make_unique<Database>(projectDatabasePath(abs)), std::move(lock)));
    p->migrate();
    p->setSetting("cache_resolution", std::to_string(cacheResolution));
    return p;
}

std::unique_ptr<Project> Project::open(const std::string& dir, ProjectAccess access)
{
    if (!exists(dir))
        throw UserError("'" + dir + "' is not a medsiam project (no " + kDatabaseName + " in it)");
    const std::string abs = fs::absolute(dir).lexically_normal().string();
    const bool readOnly = access == ProjectAccess::ReadOnly;
    std::shared_ptr<FileLock> lock = readOnly ? nullptr : lockProjectForWriting(abs);
    const std::string path = projectDatabasePath(abs);
    checkDatabaseFile(abs, path);
    if (readOnly && Database(path, true).userVersion() < kSchemaVersion) {
        // Written by an older medsiam: upgraded once by a writer, when no other program is one.
        try {
            open(abs, ProjectAccess::ReadWrite);
        } catch (const ProjectBusyError& e) {
            throw UserError("project '" + abs + "' was written by an older medsiam and must be upgraded before it can be read, "
                            "but " + e.owner().describe() + " is writing to it; try again when it has finished");
        }
    }
    std::unique_ptr<Project> p;
    try {
        p.reset(new Project(abs, std::make_unique<Database>(path, readOnly), std::move(lock)));
        if (!readOnly) {
            auto check = p->m_db->prepare("PRAGMA quick_check(1)");
            const std::string verdict = check.step() ? check.columnText(0) : std::string("no answer");
            if (verdict != "ok")
                throw DamagedProjectError("the project's catalogue '" + path + "' is damaged (SQLite: " + verdict +
                                          "). Nothing was changed. Restore a backup with `medsiam-cli repair " + abs + " --restore`.");
        }
        p->migrate();
    } catch (const DamagedProjectError&) {
        throw;
    } catch (const UserError& e) {
        if (isCorruption(e.what()))
            throw DamagedProjectError(std::string("the project's catalogue is damaged: ") + e.what() +
                                      ". Nothing was changed. Restore a backup with `medsiam-cli repair " + abs + " --restore`.");
        throw;
    }
    if (!readOnly) {
        std::error_code ec;
        fs::create_directories(fs::path(abs) / "cache", ec);
        backupProject(*p);
    }
    return p;
}

std::unique_ptr<Project> Project::openOrCreate(const std::string& dir, int cacheResolution)
{
    return exists(dir) ? open(dir) : create(dir, cacheResolution);
}

void Project::migrate()
{
    const int current = m_db->userVersion();
    if (current > kSchemaVersion)
        throw UserError("project '" + m_dir + "' was written by a newer medsiam (schema " + std::to_string(current) +
                        "); this build reads up to schema " + std::to_string(kSchemaVersion));
    if (current < kSchemaVersion && readOnly())
        throw UserError("project '" + m_dir + "' was written by an older medsiam and must be upgraded before it can be read");
    for (int v = current; v < kSchemaVersion; ++v) {
        Database::Transaction t(*m_db);
        m_db->exec(kMigrations[v]);
        m_db->setUserVersion(v + 1);
        t.commit();
    }
}

std::string Project::cacheDir() const { return (fs::path(m_dir) / "cache").string(); }

int Project::cacheResolution()
{
    long long v = kDefaultCacheResolution;
    text::parseInt(setting("cache_resolution", std::to_string(kDefaultCacheResolution)), v);
    return static_cast<int>(v);
}

int Project::naturalChannels()
{
    auto s = m_db->prepare("SELECT COALESCE(MAX(channels), 1) FROM cache_entries WHERE resolution=?");
    s.bind(1, cacheResolution());
    return s.step() && s.columnInt(0) == 3 ? 3 : 1;
}

std::string Project::setting(const std::string& key, const std::string& fallback)
{
    auto s = m_db->prepare("SELECT value FROM settings WHERE key=?");
    s.bind(1, key);
    return s.step() ? s.columnText(0) : fallback;
}

void Project::setSetting(const std::string& key, const std::string& value)
{
    m_db->prepare("INSERT INTO settings(key,value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value")
        .bind(1, key)
        .bind(2, value)
        .run();
}

int64_t Project::insertImage(const ImageRecord& r)
{
    auto& s = m_db->cached(
        "INSERT INTO images(source_path,relative_path,format,modality,patient_id,study_uid,series_uid,sop_uid,"
        "frame_index,frame_count,rows,columns,bits,photometric,transfer_syntax,content_hash,slice_axis) "
        "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    s.bind(1, r.sourcePath).bind(2, r.relativePath).bind(3, formatName(r.meta.format)).bind(4, r.meta.modality);
    s.bind(5, r.meta.patientId).bind(6, r.meta.studyUid).bind(7, r.meta.seriesUid).bind(8, r.meta.sopUid);
    s.bind(9, r.frameIndex).bind(10, r.meta.frameCount).bind(11, r.meta.rows).bind(12, r.meta.columns);
    s.bind(13, r.meta.bits).bind(14, r.meta.photometric).bind(15, r.meta.transferSyntax).bind(16, r.contentHash);
    s.bind(17, r.meta.sliceAxis);
    s.step();
    return m_db->lastInsertId();
}

std::vector<CacheEntry> Project::cacheEntries(int side)
{
    std::vector<CacheEntry> out;
    auto s = m_db->prepare(
        "SELECT image_id,offset,channels,content_x,content_y,content_w,content_h FROM cache_entries WHERE resolution=? ORDER BY image_id");
    s.bind(1, side);
    while (s.step()) {
        CacheEntry e;
        e.imageId = s.columnInt(0);
        e.offset = s.columnInt(1);
        e.channels = static_cast<int>(s.columnInt(2));
        e.content = {static_cast<int>(s.columnInt(3)), static_cast<int>(s.columnInt(4)), static_cast<int>(s.columnInt(5)),
                     static_cast<int>(s.columnInt(6))};
        out.push_back(e);
    }
    return out;
}

std::unique_ptr<ImageCache> Project::openCache(int side)
{
    return std::make_unique<ImageCache>(cacheDir(), side, cacheEntries(side));
}

int64_t Project::cacheEnd(int side)
{
    // Entries never overlap, so the one at the highest offset ends last (index cache_entries_end).
    auto& s = m_db->cached("SELECT offset, channels FROM cache_entries WHERE resolution=? ORDER BY offset DESC LIMIT 1");
    s.bind(1, side);
    const int64_t end = s.step() ? s.columnInt(0) + int64_t(side) * side * s.columnInt(1) : 0;
    s.reset();
    return end;
}

void Project::insertCacheEntry(int side, const CacheEntry& e)
{
    auto& s = m_db->cached(
        "INSERT INTO cache_entries(image_id,resolution,offset,channels,content_x,content_y,content_w,content_h) VALUES(?,?,?,?,?,?,?,?)");
    s.bind(1, e.imageId).bind(2, side).bind(3, e.offset).bind(4, e.channels);
    s.bind(5, e.content.x).bind(6, e.content.y).bind(7, e.content.width).bind(8, e.content.height);
    s.run();
}

std::vector<std::string> classKeys() { return {"1", "2", "3", "4", "5", "6", "7", "8", "9", "0"}; }

size_t assignDefaultKeys(std::vector<ClassInfo>& classes, const std::vector<size_t>& fresh)
{
    std::set<std::string> used;
    for (size_t i = 0; i < classes.size(); ++i)
        if (std::find(fresh.begin(), fresh.end(), i) == fresh.end() && !classes[i].shortcut.empty())
            used.insert(classes[i].shortcut);
    const std::vector<std::string> keys = classKeys();
    size_t given = 0;
    // First the classes named by a digit, so that "0" and "1" keep their own keys whatever the order.
    for (size_t i : fresh) {
        ClassInfo& c = classes[i];
        const std::string name = text::trim(c.name);
        if (c.shortcut.empty() && name.size() == 1 && name[0] >= '0' && name[0] <= '9' && !used.count(name)) {
            c.shortcut = name;
            used.insert(name);
            ++given;
        }
    }
    for (size_t i : fresh) {
        ClassInfo& c = classes[i];
        if (!c.shortcut.empty())
            continue;
        for (const std::string& k : keys)
            if (!used.count(k)) {
                c.shortcut = k;
                used.insert(k);
                ++given;
                break;
            }
    }
    return given;
}

int64_t Project::ensureClass(const std::string& name)
{
    const std::string n = text::trim(name);
    if (n.empty())
        throw UserError("a class name cannot be empty");
    auto& find = m_db->cached("SELECT id FROM classes WHERE name=?");
    find.bind(1, n);
    if (find.step()) {
        const int64_t id = find.columnInt(0);
        find.reset(); // a cached statement left on a row would keep its read open
        return id;
    }
    const int64_t position = m_db->scalar("SELECT COALESCE(MAX(position)+1,0) FROM classes");
    m_db->prepare("INSERT INTO classes(name,position) VALUES(?,?)").bind(1, n).bind(2, position).run();
    return m_db->lastInsertId();
}

std::vector<TrainingItem> Project::trainingItems()
{
    std::vector<TrainingItem> out;
    std::vector<int64_t> classIds;
    for (const auto& c : classes())
        classIds.push_back(c.id);
    auto s = m_db->prepare("SELECT i.id, l.class_id, COALESCE(s.split,''), i.patient_id FROM images i LEFT JOIN labels l ON "
                           "l.image_id=i.id LEFT JOIN splits s ON s.image_id=i.id ORDER BY i.id");
    while (s.step()) {
        TrainingItem item;
        item.imageId = s.columnInt(0);
        if (!s.columnIsNull(1))
            item.classIndex = static_cast<int>(std::find(classIds.begin(), classIds.end(), s.columnInt(1)) - classIds.begin());
        item.split = s.columnText(2);
        item.patientId = s.columnText(3);
        out.push_back(item);
    }
    return out;
}

void Project::replaceSplits(const std::vector<std::pair<int64_t, std::string>>& assignments)
{
    Database::Transaction tx(*m_db);
    m_db->exec("DELETE FROM splits");
    auto s = m_db->prepare("INSERT INTO splits(image_id,split) VALUES(?,?)");
    for (const auto& [id, split] : assignments) {
        if (split.empty())
            continue;
        const std::string n = normaliseSplit(split);
        if (n.empty())
            throw UserError("unknown split '" + split + "' (use train, val or test)");
        s.bind(1, id).bind(2, n).run();
    }
    tx.commit();
}

std::pair<int, int> Project::medianImageSize()
{
    auto count = m_db->prepare("SELECT COUNT(*) FROM images");
    count.step();
    const int64_t n = count.columnInt(0);
    if (n == 0)
        return {0, 0};
    auto s = m_db->prepare("SELECT rows, columns FROM images ORDER BY rows*columns LIMIT 1 OFFSET ?");
    s.bind(1, n / 2);
    s.step();
    return {static_cast<int>(s.columnInt(0)), static_cast<int>(s.columnInt(1))};
}

std::vector<ClassInfo> Project::classes()
{
    std::vector<ClassInfo> out;
    auto s = m_db->prepare("SELECT id,name,color,shortcut FROM classes ORDER BY position,id");
    while (s.step())
        out.push_back({s.columnInt(0), s.columnText(1), s.columnText(2), s.columnText(3)});
    return out;
}

void Project::setLabel(int64_t imageId, int64_t classId, const std::string& source)
{
    m_db->cached("INSERT INTO labels(image_id,class_id,source) VALUES(?,?,?) ON CONFLICT(image_id) DO UPDATE SET "
                  "class_id=excluded.class_id, source=excluded.source, updated_at=datetime('now')")
        .bind(1, imageId)
        .bind(2, classId)
        .bind(3, source)
        .run();
}

void Project::setLabels(const std::vector<std::pair<int64_t, int64_t>>& labels, const std::string& source)
{
    Database::Transaction tx(*m_db);
    for (const auto& [imageId, classId] : labels) {
        if (classId > 0)
            setLabel(imageId, classId, source);
        else
            clearLabel(imageId);
    }
    tx.commit();
}

std::vector<CatalogueRow> Project::catalogue()
{
    std::vector<CatalogueRow> out;
    auto s = m_db->prepare(
        "SELECT i.id, i.source_path, i.relative_path, i.format, i.modality, i.patient_id, i.frame_index, i.frame_count, "
        "i.rows, i.columns, i.slice_axis, COALESCE(l.class_id,-1), COALESCE(sp.split,''), i.sop_uid, i.content_hash FROM images i "
        "LEFT JOIN labels l ON l.image_id=i.id LEFT JOIN splits sp ON sp.image_id=i.id ORDER BY i.id");
    while (s.step()) {
        CatalogueRow r;
        r.imageId = s.columnInt(0);
        r.sourcePath = s.columnText(1);
        r.relativePath = s.columnText(2);
        r.format = s.columnText(3);
        r.modality = s.columnText(4);
        r.patientId = s.columnText(5);
        r.frameIndex = static_cast<int>(s.columnInt(6));
        r.frameCount = static_cast<int>(s.columnInt(7));
        r.rows = static_cast<int>(s.columnInt(8));
        r.columns = static_cast<int>(s.columnInt(9));
        r.sliceAxis = static_cast<int>(s.columnInt(10));
        r.classId = s.columnInt(11);
        r.split = s.columnText(12);
        r.sopUid = s.columnText(13);
        r.contentHash = s.columnText(14);
        out.push_back(std::move(r));
    }
    return out;
}

std::map<int64_t, int64_t> Project::labelCounts()
{
    std::map<int64_t, int64_t> out;
    auto s = m_db->prepare("SELECT class_id, COUNT(*) FROM labels GROUP BY class_id");
    while (s.step())
        out[s.columnInt(0)] = s.columnInt(1);
    return out;
}

void Project::updateClass(const ClassInfo& info)
{
    const std::string name = text::trim(info.name);
    if (name.empty())
        throw UserError("a class name cannot be empty");
    auto clash = m_db->prepare("SELECT id FROM classes WHERE name=? AND id<>?");
    clash.bind(1, name).bind(2, info.id);
    if (clash.step())
        throw UserError("there is already a class named '" + name + "'");
    if (!info.shortcut.empty()) {
        auto used = m_db->prepare("SELECT name FROM classes WHERE shortcut=? AND id<>?");
        used.bind(1, info.shortcut).bind(2, info.id);
        if (used.step())
            throw UserError("shortcut " + info.shortcut + " is already used by class '" + used.columnText(0) + "'");
    }
    m_db->prepare("UPDATE classes SET name=?, color=?, shortcut=? WHERE id=?")
        .bind(1, name)
        .bind(2, info.color)
        .bind(3, info.shortcut)
        .bind(4, info.id)
        .run();
    if (m_db->changes() == 0)
        throw UserError("no class with id " + std::to_string(info.id));
}

void Project::updateClasses(const std::vector<ClassInfo>& schema)
{
    Database::Transaction tx(*m_db);
    // Free every key first, so that two classes can swap keys.
    for (const auto& c : classes()) {
        ClassInfo free = c;
        free.shortcut = "-" + std::to_string(c.id);
        updateClass(free);
    }
    for (ClassInfo info : schema) {
        if (info.id <= 0)
            info.id = ensureClass(info.name);
        updateClass(info);
    }
    tx.commit();
}

int64_t Project::removeClass(int64_t classId)
{
    Database::Transaction tx(*m_db);
    const int64_t labeled = [&] {
        auto s = m_db->prepare("SELECT COUNT(*) FROM labels WHERE class_id=?");
        s.bind(1, classId);
        return s.step() ? s.columnInt(0) : 0;
    }();
    m_db->prepare("DELETE FROM labels WHERE class_id=?").bind(1, classId).run();
    m_db->prepare("DELETE FROM classes WHERE id=?").bind(1, classId).run();
    tx.commit();
    return labeled;
}

void Project::clearLabel(int64_t imageId) { m_db->prepare("DELETE FROM labels WHERE image_id=?").bind(1, imageId).run(); }

void Project::setSplit(int64_t imageId, const std::string& split)
{
    const std::string s = normaliseSplit(split);
    if (s.empty())
        throw UserError("unknown split '" + split + "' (use train, val or test)");
    m_db->cached("INSERT INTO splits(image_id,split) VALUES(?,?) ON CONFLICT(image_id) DO UPDATE SET split=excluded.split")
        .bind(1, imageId)
        .bind(2, s)
        .run();
}

void Project::recordIssue(const std::string& path, const std::string& reason, IssueSeverity severity)
{
    m_db->cached("INSERT INTO import_issues(path,reason,severity) VALUES(?,?,?) ON CONFLICT(path) DO UPDATE SET "
                  "reason=excluded.reason, severity=excluded.severity, recorded_at=datetime('now')")
        .bind(1, path)
        .bind(2, reason)
        .bind(3, severity == IssueSeverity::Warning ? "warning" : "error")
        .run();
}

void Project::clearIssue(const std::string& path) { m_db->cached("DELETE FROM import_issues WHERE path=?").bind(1, path).run(); }

std::vector<std::pair<std::string, std::string>> Project::issues()
{
    std::vector<std::pair<std::string, std::string>> out;
    auto s = m_db->prepare("SELECT path,reason FROM import_issues WHERE severity='error' ORDER BY path");
    while (s.step())
        out.emplace_back(s.columnText(0), s.columnText(1));
    return out;
}

std::vector<std::pair<std::string, std::string>> Project::warnings()
{
    std::vector<std::pair<std::string, std::string>> out;
    auto s = m_db->prepare("SELECT path,reason FROM import_issues WHERE severity='warning' ORDER BY path");
    while (s.step())
        out.emplace_back(s.columnText(0), s.columnText(1));
    return out;
}

ProjectSummary Project::summary()
{
    ProjectSummary s;
    s.path = m_dir;
    s.cacheResolution = cacheResolution();
    s.images = m_db->scalar("SELECT COUNT(*) FROM images");
    s.sourceFiles = m_db->scalar("SELECT COUNT(DISTINCT source_path) FROM images");
    s.patients = m_db->scalar("SELECT COUNT(DISTINCT patient_id) FROM images WHERE patient_id<>''");
    s.labeled = m_db->scalar("SELECT COUNT(*) FROM labels");
    s.byFormat = counts(*m_db, "SELECT format,COUNT(*) FROM images GROUP BY format ORDER BY 2 DESC, 1");
    s.byModality = counts(*m_db, "SELECT CASE modality WHEN '' THEN '(none)' ELSE modality END,COUNT(*) FROM images GROUP BY 1 ORDER BY 2 DESC, 1");
    s.byClass = counts(*m_db, "SELECT c.name,COUNT(l.image_id) FROM classes c LEFT JOIN labels l ON l.class_id=c.id GROUP BY c.id ORDER BY c.position,c.id");
    s.byClass.emplace_back("(unlabeled)", s.images - s.labeled);
    for (const char* split : {"train", "val", "test"}) {
        auto q = m_db->prepare("SELECT COUNT(*) FROM splits WHERE split=?");
        q.bind(1, split);
        q.step();
        s.bySplit.emplace_back(split, q.columnInt(0));
    }
    s.bySplit.emplace_back("(none)", s.images - m_db->scalar("SELECT COUNT(*) FROM splits"));
    s.issues = m_db->scalar("SELECT COUNT(*) FROM import_issues WHERE severity='error'");
    s.warnings = m_db->scalar("SELECT COUNT(*) FROM import_issues WHERE severity='warning'");
    s.issuesByReason =
        counts(*m_db, "SELECT reason,COUNT(*) FROM import_issues WHERE severity='error' GROUP BY reason ORDER BY 2 DESC, 1");
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(cacheDir(), ec))
        if (e.is_regular_file())
            s.cacheBytes += static_cast<int64_t>(e.file_size());
    return s;
}

std::string normaliseSplit(const std::string& value)
{
    const std::string v = text::toLower(text::trim(value));
    if (v == "train" || v == "training" || v == "tr")
        return "train";
    if (v == "val" || v == "valid" || v == "validation" || v == "dev")
        return "val";
    if (v == "test" || v == "testing" || v == "te")
        return "test";
    return {};
}

} // namespace medsiam::core
