// Nothing lost, nothing hangs: one writer per project, cache offsets that cannot alias, a full
// disk, files that hang or bomb their decoders, hostile weight files and a damaged catalogue.
#include "TestSupport.h"

#include "image/Image8.h"
#include "image/Png.h"
#include "io/ImageDecoder.h"
#include "io/TensorFile.h"
#include "project/Importer.h"
#include "project/Project.h"
#include "project/ProjectBackup.h"
#include "util/Error.h"
#include "util/FileLock.h"

#include <QDir>
#include <QElapsedTimer>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <zlib.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <csignal>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace medsiam::core;
using medsiam::test::writeBytes;
using medsiam::test::writeText;
namespace fs = std::filesystem;

namespace {

/// The CLI under test: this build's, or MEDSIAM_CLI_UNDER_TEST (to measure another build).
const QString kCli = qEnvironmentVariableIsEmpty("MEDSIAM_CLI_UNDER_TEST") ? QStringLiteral(MEDSIAM_CLI)
                                                                            : qEnvironmentVariable("MEDSIAM_CLI_UNDER_TEST");

/// `count` grey PNGs of `side` px named <prefix>NNN.png, each one flat level (its index), so that
/// a cached image tells which file it came from.
void writeLevels(const QString& dir, const QString& prefix, int count, int side = 32, int firstLevel = 0)
{
    QDir().mkpath(dir);
    for (int i = 0; i < count; ++i) {
        Image8 img(side, side, 1);
        const int level = firstLevel + i;
        for (size_t k = 0; k < img.pixels.size(); ++k)
            img.pixels[k] = static_cast<uint8_t>(level);
        // The corner pixels make the content (and its hash) unique to the prefix and the index.
        img.pixels[0] = static_cast<uint8_t>(i & 0xFF);
        img.pixels[1] = static_cast<uint8_t>(i >> 8);
        img.pixels[2] = static_cast<uint8_t>(qHash(prefix) & 0xFF);
        img.pixels[3] = static_cast<uint8_t>(prefix.isEmpty() ? 0 : prefix.at(0).unicode());
        writePng(QDir(dir).filePath(QStringLiteral("%1%2.png").arg(prefix).arg(i, 3, 10, QChar('0'))).toStdString(), img);
    }
}

/// `count` PNGs of noise, slow enough to decode that an import of them takes a few seconds.
void writeNoise(const QString& dir, int count, int side)
{
    QDir().mkpath(dir);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < count; ++i) {
        Image8 img(side, side, 1);
        for (auto& v : img.pixels) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            v = static_cast<uint8_t>(x);
        }
        writePng(QDir(dir).filePath(QStringLiteral("n%1.png").arg(i, 4, 10, QChar('0'))).toStdString(), img);
    }
}

struct Run {
    int exitCode = -1;
    QString out, err;
    double seconds = 0;
    long maxRssKb = 0;
};

/// Runs the CLI in a child of its own and waits for it, with its peak resident memory from wait4.
Run runCli(const QStringList& args, int timeoutSeconds = 120)
{
    Run r;
    QTemporaryDir tmp;
    const QString outPath = tmp.filePath("out"), errPath = tmp.filePath("err");
    std::vector<std::string> argv{kCli.toStdString()};
    for (const QString& a : args)
        argv.push_back(a.toStdString());
    std::vector<char*> cargv;
    for (auto& a : argv)
        cargv.push_back(a.data());
    cargv.push_back(nullptr);
    QElapsedTimer t;
    t.start();
    const pid_t pid = ::fork();
    if (pid == 0) {
        std::freopen(outPath.toLocal8Bit().constData(), "w", stdout);
        std::freopen(errPath.toLocal8Bit().constData(), "w", stderr);
        ::alarm(static_cast<unsigned>(timeoutSeconds));
        ::execv(cargv[0], cargv.data());
        ::_exit(127);
    }
    int status = 0;
    struct rusage usage {};
    ::wait4(pid, &status, 0, &usage);
    r.seconds = t.elapsed() / 1000.0;
    r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.maxRssKb = usage.ru_maxrss;
    QFile o(outPath), e(errPath);
    if (o.open(QIODevice::ReadOnly))
        r.out = QString::fromUtf8(o.readAll());
    if (e.open(QIODevice::ReadOnly))
        r.err = QString::fromUtf8(e.readAll());
    return r;
}

// ---- small zip and deflate writers for crafted archives ----

void put16(std::string& o, uint32_t v) { o += char(v & 0xFF), o += char((v >> 8) & 0xFF); }
void put32(std::string& o, uint32_t v) { put16(o, v & 0xFFFF), put16(o, v >> 16); }

/// `prefix` followed by `zeros` zero bytes, deflated as a stream (windowBits: -15 raw deflate,
/// 15 zlib, 31 gzip), without holding the zeros in memory.
std::string deflateStream(const std::string& prefix, uint64_t zeros, int windowBits)
{
    z_stream zs{};
    deflateInit2(&zs, 9, Z_DEFLATED, windowBits, 9, Z_DEFAULT_STRATEGY);
    std::string out;
    std::vector<char> buf(1 << 16);
    const std::string chunk(1 << 20, '\0');
    auto feed = [&](const char* data, size_t n, int flush) {
        zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
        zs.avail_in = static_cast<uInt>(n);
        do {
            zs.next_out = reinterpret_cast<Bytef*>(buf.data());
            zs.avail_out = static_cast<uInt>(buf.size());
            deflate(&zs, flush);
            out.append(buf.data(), buf.size() - zs.avail_out);
        } while (zs.avail_out == 0);
    };
    feed(prefix.data(), prefix.size(), Z_NO_FLUSH);
    for (uint64_t left = zeros; left > 0;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk.size()));
        left -= n;
        feed(chunk.data(), n, Z_NO_FLUSH);
    }
    feed(nullptr, 0, Z_FINISH);
    deflateEnd(&zs);
    return out;
}

std::string rawDeflate(const std::string& data) { return deflateStream(data, 0, -15); }

struct ZipEntry {
    std::string name, data; ///< data as stored (compressed when method is 8)
    uint16_t method = 0;
    uint32_t crc = 0;
    uint32_t claimedSize = 0; ///< the uncompressed size the headers state
};

ZipEntry stored(const std::string& name, const std::string& body)
{
    return {name, body, 0, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size()))),
            static_cast<uint32_t>(body.size())};
}

std::string zipOf(const std::vector<ZipEntry>& entries)
{
    std::string out, central;
    for (const auto& e : entries) {
        const uint32_t offset = static_cast<uint32_t>(out.size());
        auto header = [&](std::string& o, bool isCentral) {
            put32(o, isCentral ? 0x02014b50 : 0x04034b50);
            if (isCentral)
                put16(o, 20);
            put16(o, 20), put16(o, 0), put16(o, e.method), put16(o, 0), put16(o, 0);
            put32(o, e.crc), put32(o, uint32_t(e.data.size())), put32(o, e.claimedSize);
            put16(o, uint32_t(e.name.size())), put16(o, 0);
            if (isCentral)
                put16(o, 0), put16(o, 0), put16(o, 0), put32(o, 0), put32(o, offset);
            o += e.name;
        };
        header(out, false);
        out += e.data;
        header(central, true);
    }
    const uint32_t cd = static_cast<uint32_t>(out.size());
    out += central;
    put32(out, 0x06054b50), put16(out, 0), put16(out, 0), put16(out, uint32_t(entries.size())), put16(out, uint32_t(entries.size()));
    put32(out, uint32_t(central.size())), put32(out, cd), put16(out, 0);
    return out;
}

std::string npyHeader(const std::string& descr, const std::string& shape)
{
    std::string h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
    while ((10 + h.size() + 1) % 64 != 0)
        h += ' ';
    h += '\n';
    std::string out = "\x93NUMPY\x01";
    out += '\0';
    put16(out, uint32_t(h.size()));
    return out + h;
}

std::string gzipOf(const std::string& data, uint64_t zeros = 0) { return deflateStream(data, zeros, 31); }
std::string zlibOf(const std::string& data, uint64_t zeros = 0) { return deflateStream(data, zeros, 15); }

std::string torchZip(const std::string& pickle, const std::string& storage = std::string(16, '\0'))
{
    return zipOf({stored("archive/data.pkl", pickle), stored("archive/byteorder", "little"), stored("archive/data/0", storage)});
}

std::string writeFile(const QString& path, const std::string& bytes)
{
    writeBytes(path, std::vector<uint8_t>(bytes.begin(), bytes.end()));
    return path.toStdString();
}

/// A decoder that blocks until released, for the file named "stuck.png"; any other PNG decodes
/// with the real decoder.
struct StuckDecoder : ImageDecoder {
    std::shared_ptr<std::mutex> m = std::make_shared<std::mutex>();
    std::shared_ptr<std::condition_variable> cv = std::make_shared<std::condition_variable>();
    std::shared_ptr<bool> released = std::make_shared<bool>(false);
    ImageMeta decode(const std::string& path, const DecodeOptions& options, const FrameSink& sink) const override
    {
        if (fs::path(path).filename() == "stuck.png") {
            auto lock = std::unique_lock<std::mutex>(*m);
            auto flag = released;
            cv->wait(lock, [flag] { return *flag; });
            throw UserError("released");
        }
        return DecoderRegistry::instance().find(ImageFormat::Png)->decode(path, options, sink);
    }
    void release()
    {
        {
            std::lock_guard<std::mutex> lock(*m);
            *released = true;
        }
        cv->notify_all();
    }
};

/// The image id -> the cached image's level at pixel (5, 5), which names its source file.
std::map<int64_t, int> cachedLevels(Project& p, int side)
{
    std::map<int64_t, int> out;
    auto cache = p.openCache(side);
    for (size_t i = 0; i < cache->size(); ++i)
        out[cache->entries()[i].imageId] = cache->pixels(i)[5 * side + 5];
    return out;
}

/// No two cache entries share a byte.
int64_t overlappingEntries(Project& p, int side)
{
    std::vector<std::pair<int64_t, int64_t>> spans;
    for (const auto& e : p.cacheEntries(side))
        spans.emplace_back(e.offset, e.offset + int64_t(side) * side * e.channels);
    std::sort(spans.begin(), spans.end());
    int64_t overlaps = 0;
    for (size_t i = 1; i < spans.size(); ++i)
        overlaps += spans[i].first < spans[i - 1].second;
    return overlaps;
}

} // namespace

class TestRobustness : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        (void)DecoderRegistry::instance();
        FileLock::setProcessPurpose("the robustness test");
    }

    /// While one program writes to a project, a second one is refused with the holder's name,
    /// and may still read; once the first has gone, its lock is taken over.
    void aSecondWriterIsRefusedAndNamesTheHolder()
    {
        QTemporaryDir tmp;
        writeLevels(tmp.filePath("a"), "a", 5);
        const QString project = tmp.filePath("p");
        QCOMPARE(runCli({"import", tmp.filePath("a"), "--project", project, "--size", "16"}).exitCode, 0);
        {
            auto holder = Project::open(project.toStdString()); // this process now writes
            const Run second = runCli({"import", tmp.filePath("a"), "--project", project});
            QCOMPARE(second.exitCode, 1);
            QVERIFY2(second.err.contains("is being changed by the robustness test (pid " + QString::number(::getpid())), qPrintable(second.err));
            const Run info = runCli({"info", project}); // readers are welcome
            QCOMPARE(info.exitCode, 0);
            QVERIFY(info.out.contains("5 items"));
            const auto owner = Project::writer(project.toStdString());
            QVERIFY(owner);
            QCOMPARE(owner->pid, int64_t(::getpid()));
        }
        // A writer killed with SIGKILL leaves its lock file behind, but no lock.
        QProcess killed;
        writeLevels(tmp.filePath("big"), "b", 300, 256);
        killed.start(kCli, {"import", tmp.filePath("big"), "--project", project});
        QVERIFY(killed.waitForStarted());
        QTRY_VERIFY_WITH_TIMEOUT(Project::writer(project.toStdString()).has_value(), 10000);
        ::kill(static_cast<pid_t>(killed.processId()), SIGKILL);
        QVERIFY(killed.waitForFinished(10000));
        QVERIFY(!Project::writer(project.toStdString()));
        const Run after = runCli({"import", tmp.filePath("big"), "--project", project});
        QCOMPARE(after.exitCode, 0);
        const Run check = runCli({"repair", project});
        QVERIFY2(check.exitCode == 0 && check.out.contains("305 images"), qPrintable(check.out + check.err));
    }

    /// Two imports started at once into one project: one waits for nothing and is refused, or
    /// they run one after the other; either way no image shows another's pixels and no file is
    /// in the catalogue twice.
    void twoConcurrentCliImports()
    {
        QTemporaryDir tmp;
        writeLevels(tmp.filePath("a"), "a", 120, 64, 0);
        writeLevels(tmp.filePath("b"), "b", 120, 64, 128);
        const QString project = tmp.filePath("p");
        QCOMPARE(runCli({"import", tmp.filePath("a"), "--project", project, "--size", "64", "--threads", "1"}).exitCode, 0);
        // Both import b (the same folder) and a again, at the same moment.
        Run r1, r2;
        std::thread t1([&] { r1 = runCli({"import", tmp.filePath("b"), tmp.filePath("a"), "--project", project}); });
        std::thread t2([&] { r2 = runCli({"import", tmp.filePath("b"), tmp.filePath("a"), "--project", project}); });
        t1.join();
        t2.join();
        QVERIFY2((r1.exitCode == 0 || r2.exitCode == 0), qPrintable(r1.err + r2.err));
        for (const Run* r : {&r1, &r2})
            if (r->exitCode != 0)
                QVERIFY2(r->exitCode == 1 && r->err.contains("is being changed by medsiam-cli import"), qPrintable(r->err));
        auto p = Project::open(project.toStdString(), ProjectAccess::ReadOnly);
        QCOMPARE(p->db().scalar("SELECT COUNT(*) FROM images"), int64_t(240));
        QCOMPARE(p->db().scalar("SELECT COUNT(*) FROM (SELECT content_hash FROM images GROUP BY content_hash HAVING COUNT(*) > 1)"),
                 int64_t(0));
        QCOMPARE(overlappingEntries(*p, 64), int64_t(0));
    }

    /// Even with the lock out of the way (two connections of one process share it), the cache
    /// offsets are handed out inside the database transaction: two imports at once into one
    /// project alias no pixels and duplicate no file.
    void bypassedLockCannotAliasOffsets()
    {
        QTemporaryDir tmp;
        writeLevels(tmp.filePath("a"), "a", 150, 32, 0);
        writeLevels(tmp.filePath("b"), "b", 150, 32, 100);
        const std::string project = tmp.filePath("p").toStdString();
        Project::create(project, 32);
        auto importInto = [&](std::vector<std::string> sources) {
            auto p = Project::open(project);
            ImportOptions o;
            o.sources = std::move(sources);
            o.threads = 1;
            o.chunkFiles = 4; // many small transactions, interleaved with the other import's
            importSources(*p, o);
        };
        std::thread t1(importInto, std::vector<std::string>{tmp.filePath("a").toStdString(), tmp.filePath("b").toStdString()});
        std::thread t2(importInto, std::vector<std::string>{tmp.filePath("b").toStdString(), tmp.filePath("a").toStdString()});
        t1.join();
        t2.join();
        auto p = Project::open(project);
        QCOMPARE(p->db().scalar("SELECT COUNT(*) FROM images"), int64_t(300));
        QCOMPARE(overlappingEntries(*p, 32), int64_t(0));
        // Every cached image shows its own file's level.
        const auto levels = cachedLevels(*p, 32);
        int wrong = 0;
        for (const auto& row : p->catalogue()) {
            const std::string name = fs::path(row.sourcePath).filename().string(); // a017.png
            const int index = std::stoi(name.substr(1, 3));
            const int expected = (name[0] == 'a' ? 0 : 100) + index;
            wrong += levels.at(row.imageId) != expected;
        }
        QCOMPARE(wrong, 0);
    }

    /// A full disk ends the import with a message and exit status 1; the project stays sound and
    /// the import completes once there is room.
    void fullDiskEndsImportCleanly()
    {
        QTemporaryDir tmp;
        const QString mountPoint = tmp.filePath("small");
        QDir().mkpath(mountPoint);
        if (::mount("tmpfs", mountPoint.toLocal8Bit().constData(), "tmpfs", 0, "size=3m") != 0)
            QSKIP("mounting a 3 MB tmpfs needs root (CAP_SYS_ADMIN); this test runs in CI as root");
        struct Unmount {
            QString path;
            ~Unmount() { ::umount2(path.toLocal8Bit().constData(), MNT_DETACH); }
        } unmount{mountPoint};
        writeLevels(tmp.filePath("images"), "i", 250, 32); // 250 x 16 KB at 128 px: 4 MB of cache
        const QString project = QDir(mountPoint).filePath("p");
        const Run full = runCli({"import", tmp.filePath("images"), "--project", project, "--size", "128"});
        QCOMPARE(full.exitCode, 1);
        QVERIFY2(full.err.contains("is full") && full.err.contains("files were imported"), qPrintable(full.err));
        QVERIFY(!full.err.contains("terminate"));
        const Run check = runCli({"repair", project});
        QVERIFY2(check.exitCode == 0, qPrintable(check.out + check.err));
        const int before = [&] {
            auto p = Project::open(project.toStdString(), ProjectAccess::ReadOnly);
            return int(p->db().scalar("SELECT COUNT(*) FROM images"));
        }();
        QVERIFY2(before > 0 && before < 250, qPrintable(QString::number(before)));
        // Room again: the same import completes.
        QVERIFY(::mount("tmpfs", mountPoint.toLocal8Bit().constData(), "tmpfs", MS_REMOUNT, "size=64m") == 0);
        const Run again = runCli({"import", tmp.filePath("images"), "--project", project});
        QVERIFY2(again.exitCode == 0, qPrintable(again.err));
        QVERIFY2(again.out.contains(QString("%1 imported").arg(250 - before)), qPrintable(again.out));
        const Run check2 = runCli({"repair", project});
        QVERIFY2(check2.exitCode == 0 && check2.out.contains("250 images"), qPrintable(check2.out + check2.err));
    }

    /// The 96-byte MetaImage header with NDims = -1 (ITK's MetaIO never returns from it) is
    /// reported, and the rest of the folder is imported.
    void hangingMetaImageIsReported()
    {
        QTemporaryDir tmp;
        writeLevels(tmp.filePath("in"), "ok", 3);
        const std::string header = "ObjectType = Image\nNDims = -1\nDimSize = 4 4 4\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n";
        writeText(tmp.filePath("in/bad.mha"), header + std::string(96 - std::min<size_t>(96, header.size()), '\0'));
        const Run r = runCli({"import", tmp.filePath("in"), "--project", tmp.filePath("p"), "--size", "16"}, 30);
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.out.contains("3 imported") && r.out.contains("1 not imported"), qPrintable(r.out));
        QVERIFY(r.seconds < 10);
        const Run info = runCli({"info", tmp.filePath("p"), "--issues"});
        QVERIFY2(info.out.contains("bad.mha\tMetaImage header: NDims is -1"), qPrintable(info.out));
    }

    /// Damaged NRRD files read on two threads at once: ITK's NRRD reader keeps its error messages
    /// in one process-wide store and crashed the importer about one time in three (found by
    /// tests/fuzz/run.sh; the files are its corpus, kept in tests/data/fuzz/volume).
    void damagedNrrdFilesOnTwoThreads()
    {
        QTemporaryDir tmp;
        const QString in = tmp.filePath("in");
        QDir().mkpath(in);
        int n = 0;
        for (const QFileInfo& f : QDir(QStringLiteral(MEDSIAM_TEST_DATA "/fuzz/volume")).entryInfoList(QDir::Files)) {
            QFile file(f.filePath());
            QVERIFY(file.open(QIODevice::ReadOnly));
            const QByteArray bytes = file.readAll().mid(1); // the first byte picks the extension: .nrrd
            QFile out(QDir(in).filePath(QStringLiteral("%1.nrrd").arg(n++)));
            QVERIFY(out.open(QIODevice::WriteOnly));
            out.write(bytes);
        }
        QVERIFY(n >= 10);
        for (int round = 0; round < 15; ++round) {
            const Run r = runCli({"import", in, "--project", tmp.filePath(QStringLiteral("p%1").arg(round)), "--size", "16", "--threads", "2"});
            QVERIFY2(r.exitCode == 0, qPrintable(QString("round %1: exit %2 %3").arg(round).arg(r.exitCode).arg(r.err)));
        }
    }

    /// A file whose decoder never returns is given up after the timeout and reported; the rest
    /// of the batch is imported, and the stuck thread is left to itself.
    void stuckDecoderIsGivenUp()
    {
        QTemporaryDir tmp;
        writeLevels(tmp.filePath("in"), "ok", 12);
        writeLevels(tmp.filePath("other"), "s", 1, 32, 200); // a content of its own
        QFile::copy(tmp.filePath("other/s000.png"), tmp.filePath("in/stuck.png"));
        auto p = Project::create(tmp.filePath("p").toStdString(), 16);
        StuckDecoder stuck;
        ImportOptions o;
        o.sources = {tmp.filePath("in").toStdString()};
        o.threads = 2;
        o.fileTimeoutSeconds = 2;
        o.decoderFor = [&](ImageFormat f) -> const ImageDecoder* {
            return f == ImageFormat::Png ? &stuck : DecoderRegistry::instance().find(f);
        };
        QElapsedTimer t;
        t.start();
        const ImportSummary s = importSources(*p, o);
        const double seconds = t.elapsed() / 1000.0;
        QVERIFY2(seconds < 10, qPrintable(QString::number(seconds)));
        QCOMPARE(s.filesImported, size_t(12));
        QCOMPARE(s.filesTimedOut, size_t(1));
        QCOMPARE(abandonedDecoderThreads(), 1);
        bool found = false;
        for (const auto& [path, reason] : p->issues())
            found = found || (fs::path(path).filename() == "stuck.png" && reason.find("did not finish within 2 s") != std::string::npos);
        QVERIFY(found);
        stuck.release();
        QTRY_COMPARE_WITH_TIMEOUT(abandonedDecoderThreads(), 0, 5000);
    }

    /// SIGTERM (and Ctrl-C) end an import within seconds, keeping what was committed.
    void sigtermEndsAnImportQuickly()
    {
        QTemporaryDir tmp;
        writeNoise(tmp.filePath("in"), 2000, 512); // enough that an idle machine is still importing when it is stopped
        const QString project = tmp.filePath("p");
        QProcess proc;
        proc.start(kCli, {"import", tmp.filePath("in"), "--project", project, "--size", "128", "--threads", "1"});
        QVERIFY(proc.waitForStarted());
        QTest::qWait(700);
        QVERIFY2(proc.state() == QProcess::Running, "the import finished before it could be stopped; give it more files");
        QElapsedTimer t;
        t.start();
        ::kill(static_cast<pid_t>(proc.processId()), SIGTERM);
        QVERIFY(proc.waitForFinished(10000));
        const double seconds = t.elapsed() / 1000.0;
        qInfo("SIGTERM ended the import in %.2f s", seconds);
        QVERIFY2(seconds < 5, qPrintable(QString::number(seconds)));
        QCOMPARE(proc.exitCode(), 130);
        const Run check = runCli({"repair", project});
        QVERIFY2(check.exitCode == 0, qPrintable(check.out + check.err));
        QCOMPARE(runCli({"import", tmp.filePath("in"), "--project", project}).exitCode, 0);
        QVERIFY(runCli({"repair", project}).out.contains("2000 images"));
    }

    /// Hostile files whose headers claim gigabytes are refused with a message, before anything
    /// large is allocated: the whole process stays under 512 MB.
    void craftedFilesAreRefusedCheaply_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("message");
        for (const char* k : {"mha-dims", "mha-bomb", "nrrd-bomb", "nifti-bomb", "npz-claim", "png-bomb", "png-huge"})
            QTest::newRow(k) << "image" << k << "";
        // Slice lists that ITK's MetaIO read past its buffers on (a fuzzed header crashed the import).
        QTest::newRow("mha-list-compressed") << "image" << "mha-list-compressed" << "compressed slices in separate files";
        QTest::newRow("mha-list-garbage") << "image" << "mha-list-garbage" << "(expected LIST or LIST <N>D)";
        QTest::newRow("mha-list-missing") << "image" << "mha-list-missing" << "the listed slice file 'slice0.raw' does not exist";
        QTest::newRow("pt-stride") << "weights" << "pt-stride" << "reaches outside its storage";
        QTest::newRow("npz-deflate-bomb") << "weights" << "npz-deflate-bomb" << "";
        QTest::newRow("pt-deep") << "weights" << "pt-deep" << "nest more than 1000 levels";
    }
    void craftedFilesAreRefusedCheaply()
    {
        QFETCH(QString, kind);
        QFETCH(QString, file);
        QFETCH(QString, message);
        QTemporaryDir tmp;
        QDir().mkpath(tmp.filePath("in"));
        const QString base = tmp.filePath("in/" + file);
        std::string path;
        if (file == "mha-dims")
            path = writeFile(base + ".mha", "ObjectType = Image\nNDims = 3\nDimSize = 4294967296 1 1\nElementType = MET_UCHAR\n"
                                            "ElementDataFile = LOCAL\n" + std::string(9800, '\0'));
        else if (file == "mha-bomb")
            path = writeFile(base + ".mha", "ObjectType = Image\nNDims = 3\nDimSize = 4096 4096 256\nElementType = MET_UCHAR\n"
                                            "CompressedData = True\nElementDataFile = LOCAL\n" + zlibOf("", 64 << 20));
        else if (file.startsWith("mha-list-")) {
            const std::string list = file == "mha-list-garbage" ? "LISTectTyp@@@@@@@@\\^`bdfh" : "LIST";
            path = writeFile(base + ".mha", "ObjectType = Image\nNDims = 3\nDimSize = 4 5 6\nElementType = MET_UCHAR\n" +
                                                std::string(file == "mha-list-compressed" ? "CompressedData = True\n" : "") +
                                                "ElementDataFile = " + list + "\nslice0.raw\nslice1.raw\n");
        } else if (file == "nrrd-bomb")
            path = writeFile(base + ".nrrd", "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 4096 4096 256\nencoding: gzip\n\n" +
                                                 gzipOf("", 64 << 20));
        else if (file == "nifti-bomb") {
            std::string h(352, '\0');
            auto set16 = [&](size_t at, int16_t v) { std::memcpy(&h[at], &v, 2); };
            const int32_t sizeofHdr = 348;
            std::memcpy(&h[0], &sizeofHdr, 4);
            set16(40, 3), set16(42, 4096), set16(44, 4096), set16(46, 256);
            set16(70, 2), set16(72, 8); // uint8
            const float offset = 352;
            std::memcpy(&h[108], &offset, 4);
            std::memcpy(&h[344], "n+1\0", 4);
            path = writeFile(base + ".nii.gz", gzipOf(h, 64 << 20));
        } else if (file == "npz-claim") {
            // A 14 kB archive whose central directory claims a 4 GB image array.
            const std::string body = deflateStream(npyHeader("|u1", "(4096, 1024, 1024)"), 14 << 20, -15);
            ZipEntry e{"train_images.npy", body, 8, 0, 0xFFFFFFF0u};
            path = writeFile(base + ".npz", zipOf({e}));
        } else if (file == "png-bomb" || file == "png-huge") {
            // An IHDR claiming 100000 x 100000 (or 30000 x 30000, under OpenCV's own limit) grey pixels.
            const uint32_t side = file == "png-bomb" ? 100000 : 30000;
            std::string png = "\x89PNG\r\n\x1a\n";
            std::string ihdr = "IHDR";
            for (int s = 0; s < 2; ++s)
                for (int b = 3; b >= 0; --b)
                    ihdr += char((side >> (8 * b)) & 0xFF);
            ihdr += std::string("\x08\x00\x00\x00\x00", 5);
            auto chunk = [&](const std::string& typeAndData) {
                const uint32_t n = uint32_t(typeAndData.size() - 4);
                for (int b = 3; b >= 0; --b)
                    png += char((n >> (8 * b)) & 0xFF);
                png += typeAndData;
                const uint32_t crc = uint32_t(crc32(0, reinterpret_cast<const Bytef*>(typeAndData.data()), uInt(typeAndData.size())));
                for (int b = 3; b >= 0; --b)
                    png += char((crc >> (8 * b)) & 0xFF);
            };
            chunk(ihdr);
            chunk("IDAT" + zlibOf("", 1 << 20));
            chunk("IEND");
            path = writeFile(base + ".png", png);
        } else if (file == "pt-stride") {
            // {'w': _rebuild_tensor_v2(storage(4 floats), 0, (2**31 - 1,), (1,), False, OrderedDict())}
            using namespace std::string_literals;
            std::string p = "\x80\x02}"s;
            p += "X\x01\x00\x00\x00w"s;
            p += "ctorch._utils\n_rebuild_tensor_v2\n("s;
            p += "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00"s + "0X\x03\x00\x00\x00"s + "cpuJ\x04\x00\x00\x00tQ"s;
            p += "J\x00\x00\x00\x00"s;
            p += "J\xff\xff\xff\x7f\x85"s;
            p += "J\x01\x00\x00\x00\x85"s;
            p += "\x89"s;
            p += "ccollections\nOrderedDict\n)R"s;
            p += "tRs."s;
            path = writeFile(base + ".pt", torchZip(p));
        } else if (file == "npz-deflate-bomb") {
            // 1 MB of deflate data in a weights archive whose entry claims 4.4 GB.
            const std::string body = deflateStream(npyHeader("<f4", "(1100000000,)"), uint64_t(1000) << 20, -15);
            ZipEntry e{"conv.npy", body, 8, 0, 0xFFFFFFF0u};
            path = writeFile(base + ".npz", zipOf({e}));
        } else if (file == "pt-deep") {
            std::string p = "\x80\x02";
            for (int i = 0; i < 200000; ++i)
                p += ']';
            for (int i = 0; i < 199999; ++i)
                p += 'a';
            p += '.';
            path = writeFile(base + ".pt", torchZip(p));
        }
        QVERIFY(!path.empty());
        Run r;
        if (kind == "image") {
            r = runCli({"import", tmp.filePath("in"), "--project", tmp.filePath("p"), "--size", "16"});
            QCOMPARE(r.exitCode, 0);
            QVERIFY2(r.out.contains("0 imported") && r.out.contains("1 not imported"), qPrintable(r.out + r.err));
            const Run info = runCli({"info", tmp.filePath("p"), "--issues"});
            qInfo("%s: %s", qPrintable(file), qPrintable(info.out.section('\t', -1).trimmed()));
            QVERIFY2(info.out.contains(message), qPrintable(info.out));
        } else {
            r = runCli({"model", "info", "--backbone", "bit-nano", "--weights", QString::fromStdString(path)});
            QCOMPARE(r.exitCode, 1);
            QVERIFY2(r.err.contains(message), qPrintable(r.err));
            qInfo("%s: %s", qPrintable(file), qPrintable(r.err.trimmed()));
        }
        qInfo("%s: peak RSS %.1f MB", qPrintable(file), r.maxRssKb / 1024.0);
        QVERIFY2(r.maxRssKb < 512 * 1024, qPrintable(QString("peak RSS %1 MB").arg(r.maxRssKb / 1024.0)));
    }

    /// A zip entry flagged as encrypted, an element count that overflows 64 bits: refused.
    void inconsistentArchivesAreRefused()
    {
        QTemporaryDir tmp;
        ZipEntry e = stored("a.npy", npyHeader("<f4", "(4294967296, 4294967296, 16)"));
        const std::string overflow = writeFile(tmp.filePath("overflow.npz"), zipOf({e}));
        const std::string why = medsiam::test::errorOf([&] { (void)readTensorFile(overflow); });
        QVERIFY2(why.find("overflows") != std::string::npos, why.c_str());
        std::string encrypted = zipOf({stored("a.npy", npyHeader("<f4", "(1,)") + std::string(4, '\0'))});
        encrypted[6] = 1; // general purpose flag bit 0 in the local header
        // and in the central directory
        const size_t cd = encrypted.find("PK\x01\x02");
        encrypted[cd + 8] = 1;
        const std::string enc = writeFile(tmp.filePath("enc.npz"), encrypted);
        const std::string why2 = medsiam::test::errorOf([&] { (void)readTensorFile(enc); });
        QVERIFY2(why2.find("encrypted") != std::string::npos, why2.c_str());
    }

    /// A 0-byte catalogue is refused, never replaced by an empty project; the newest backup
    /// brings the project back, with a run trained after the backup found again.
    void emptyCatalogueIsRefusedAndRestored()
    {
        QTemporaryDir tmp;
        writeLevels(tmp.filePath("in"), "i", 7);
        const QString project = tmp.filePath("p");
        QCOMPARE(runCli({"import", tmp.filePath("in"), "--project", project, "--size", "16"}).exitCode, 0);
        QCOMPARE(listBackups(project.toStdString()).size(), size_t(1));
        // A run folder newer than the backup.
        QDir().mkpath(project + "/runs/finetune-20261201-120000");
        writeText(project + "/runs/finetune-20261201-120000/config.json", "{\"job\": \"finetune\", \"model\": {}}\n");
        QFile::resize(project + "/project.sqlite", 0);
        QFile::remove(project + "/project.sqlite-wal");
        const Run info = runCli({"info", project});
        QCOMPARE(info.exitCode, 1);
        QVERIFY2(info.err.contains("is empty (0 bytes)") && info.err.contains("repair"), qPrintable(info.err));
        QCOMPARE(QFileInfo(project + "/project.sqlite").size(), qint64(0)); // untouched
        const Run import = runCli({"import", tmp.filePath("in"), "--project", project});
        QCOMPARE(import.exitCode, 1);
        QCOMPARE(QFileInfo(project + "/project.sqlite").size(), qint64(0));
        const Run restore = runCli({"repair", project, "--restore"});
        QVERIFY2(restore.exitCode == 0, qPrintable(restore.err));
        QVERIFY2(restore.out.contains("7 images") && restore.out.contains("found run finetune-20261201-120000"), qPrintable(restore.out));
        const Run after = runCli({"info", project});
        QVERIFY(after.out.contains("7 items"));
        const Run runs = runCli({"runs", project});
        QVERIFY2(runs.out.contains("finetune-20261201-120000") && runs.out.contains("interrupted"), qPrintable(runs.out));
        // The emptied file was kept beside the restored one.
        bool kept = false;
        for (const auto& e : fs::directory_iterator(project.toStdString()))
            kept = kept || e.path().filename().string().rfind("project.sqlite.damaged-", 0) == 0;
        QVERIFY(kept);
    }

    /// `import` of a folder that does not exist fails (it used to report success).
    void missingSourceFails()
    {
        QTemporaryDir tmp;
        const Run r = runCli({"import", tmp.filePath("nonexistent"), "--project", tmp.filePath("p")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("does not exist; nothing was imported"), qPrintable(r.err));
    }
};

QTEST_GUILESS_MAIN(TestRobustness)
#include "TestRobustness.moc"
