// PACS query/retrieve against a real Orthanc, started by the test on loopback with a configuration
// of its own (temporary storage, free ports, medsiam registered as a C-MOVE destination).
#include "TestSupport.h"
#include "io/DicomWriter.h"
#include "pacs/OrthancServer.h"

#include "pacs/PacsImport.h"
#include "pacs/StorageReceiver.h"
#include "project/Project.h"
#include "util/Error.h"

#include <QDir>
#include <QFile>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

using namespace medsiam;

namespace {

std::vector<char> readAll(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// The bytes after the file meta information (group 0002): the dataset as it travelled.
std::vector<char> datasetBytes(const std::string& path)
{
    const std::vector<char> b = readAll(path);
    if (b.size() < 144)
        return {};
    // Group length (0002,0000) UL follows the preamble, "DICM" and its 8-byte header.
    uint32_t groupLength = 0;
    std::memcpy(&groupLength, b.data() + 132 + 8, 4);
    const size_t start = 132 + 12 + groupLength;
    return start <= b.size() ? std::vector<char>(b.begin() + start, b.end()) : std::vector<char>{};
}

} // namespace

class TestPacs : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    test::OrthancServer m_orthanc{m_dir.filePath("orthanc")};
    int m_movePort = 0;
    std::map<std::string, std::string> m_seeded; // SOP UID -> original file
    std::string m_studyA, m_seriesA1, m_seriesA2, m_studyB, m_seriesB1, m_seriesBig;

    core::PacsNode node() const { return m_orthanc.node(); }

    void startOrthanc()
    {
        const QString problem = m_orthanc.start();
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
    }

    std::string seed(const std::string& name, test::DicomSpec spec)
    {
        const std::string path = m_dir.filePath(QString::fromStdString("seed/" + name + ".dcm")).toStdString();
        std::filesystem::create_directories(std::filesystem::path(path).parent_path());
        test::writeDicom(path, spec);
        return path;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_studyA = "1.2.826.0.1.3680043.10.1";
        m_seriesA1 = m_studyA + ".1";
        m_seriesA2 = m_studyA + ".2";
        m_studyB = "1.2.826.0.1.3680043.10.2";
        m_seriesB1 = m_studyB + ".1";
        m_seriesBig = "1.2.826.0.1.3680043.10.3.1";
        std::vector<std::string> files;
        auto add = [&](const std::string& patient, const std::string& study, const std::string& series, const std::string& modality,
                       const std::string& ts, int index, int side) {
            test::DicomSpec s;
            s.rows = s.columns = side;
            s.pixels8.resize(static_cast<size_t>(side * side));
            for (size_t i = 0; i < s.pixels8.size(); ++i)
                s.pixels8[i] = static_cast<uint8_t>((i * 7 + static_cast<size_t>(index) * 13) & 0xff);
            s.patientId = patient;
            s.patientName = "Secret^Name";
            s.studyUid = study;
            s.seriesUid = series;
            s.modality = modality;
            s.transferSyntax = ts;
            s.studyDate = "20240131";
            s.studyDescription = "Chest";
            s.instanceNumber = index + 1;
            s.sopUid = series + "." + std::to_string(index + 1);
            const std::string path = seed(series + "-" + std::to_string(index), s);
            m_seeded[s.sopUid] = path;
            files.push_back(path);
        };
        for (int i = 0; i < 3; ++i)
            add("PAT-A", m_studyA, m_seriesA1, "CT", "explicit", i, 16);
        for (int i = 0; i < 2; ++i)
            add("PAT-A", m_studyA, m_seriesA2, "MR", "implicit", i, 16);
        for (int i = 0; i < 2; ++i)
            add("PAT-B", m_studyB, m_seriesB1, "CR", "implicit", i, 16);
        for (int i = 0; i < 60; ++i)
            add("PAT-C", "1.2.826.0.1.3680043.10.3", m_seriesBig, "CT", "explicit", i, 256);
        startOrthanc();
        m_movePort = m_orthanc.moveDestinationPort();
        const QString seeded = m_orthanc.seed(m_dir.filePath("seed"));
        QVERIFY2(seeded.isEmpty(), qPrintable(seeded));
    }

    void cleanupTestCase() { m_orthanc.stop(); }

    void parsesNodesAndDates()
    {
        const core::PacsNode n = core::parseNode("ORTHANC@pacs.example.org:4242");
        QCOMPARE(n.aeTitle, std::string("ORTHANC"));
        QCOMPARE(n.host, std::string("pacs.example.org"));
        QCOMPARE(n.port, 4242);
        QCOMPARE(core::parseNode("PACS@10.0.0.5").port, 104);
        for (const char* bad : {"pacs.example.org:4242", "@host:1", "AE@host:0", "AE@host:99999", "WAYTOOLONGAETITLE17@h:1", "AE@:4"})
            QVERIFY2(!test::errorOf([&] { core::parseNode(bad); }).empty(), bad);
        core::PacsQuery q;
        core::parseDateRange("2024-01-01..2024-01-31", q);
        QCOMPARE(q.dateFrom, std::string("20240101"));
        QCOMPARE(q.dateTo, std::string("20240131"));
        core::parseDateRange("20240101-", q);
        QCOMPARE(q.dateFrom, std::string("20240101"));
        QVERIFY(q.dateTo.empty());
        QVERIFY(test::errorOf([&] { core::parseDateRange("20230230", q); }).find("not a date") != std::string::npos);
        QVERIFY(test::errorOf([&] { core::parseDateRange("20240201-20240101", q); }).find("ends before") != std::string::npos);
        QVERIFY(!test::errorOf([] { core::pacsSeriesFolder("/tmp", "../etc", "1.2"); }).empty());
    }

    void echoAndRejection()
    {
        QVERIFY(core::PacsClient(node()).echo() < 10.0);
        core::PacsNode wrong = node();
        wrong.aeTitle = "NOTORTHANC";
        const std::string e = test::errorOf([&] { core::PacsClient(wrong).echo(); });
        QVERIFY2(e.find("rejected the association") != std::string::npos && e.find("AE title") != std::string::npos, e.c_str());
        core::PacsNode closed = node();
        closed.port = test::freePort();
        const std::string r = test::errorOf([&] { core::PacsClient(closed).echo(); });
        QVERIFY2(r.find("connection refused") != std::string::npos, r.c_str());
    }

    void findsByPatientAndModality()
    {
        core::PacsClient client(node());
        core::PacsQuery q;
        q.patientId = "PAT-A";
        auto studies = client.find(q);
        QCOMPARE(studies.size(), size_t(1));
        QCOMPARE(studies[0].studyUid, m_studyA);
        QCOMPARE(studies[0].relatedSeries, 2);
        QCOMPARE(studies[0].relatedInstances, 5);
        q.level = core::QueryLevel::Series;
        auto series = client.find(q);
        QCOMPARE(series.size(), size_t(2));
        q = {};
        q.level = core::QueryLevel::Series;
        q.modality = "CR";
        series = client.find(q);
        QCOMPARE(series.size(), size_t(1));
        QCOMPARE(series[0].seriesUid, m_seriesB1);
        QCOMPARE(series[0].relatedInstances, 2);
        QCOMPARE(series[0].patientId, std::string("PAT-B"));
        // A patient name is a matching key only.
        q = {};
        q.patientName = "Secret*";
        studies = client.find(q);
        QCOMPARE(studies.size(), size_t(3));
        q.patientName = "Nobody*";
        QCOMPARE(client.find(q).size(), size_t(0));
    }

    void getAndMoveAreBitExact_data()
    {
        QTest::addColumn<bool>("move");
        QTest::newRow("C-GET") << false;
        QTest::newRow("C-MOVE") << true;
    }

    void getAndMoveAreBitExact()
    {
        QFETCH(bool, move);
        const std::string root = m_dir.filePath(move ? "move" : "get").toStdString();
        core::PacsClient client(node());
        core::RetrieveOptions o;
        o.method = move ? core::RetrieveMethod::Move : core::RetrieveMethod::Get;
        o.storagePort = m_movePort;
        const std::vector<core::SeriesRef> series = {{m_studyA, m_seriesA1}, {m_studyA, m_seriesA2}, {m_studyB, m_seriesB1}};
        const core::RetrieveSummary s = client.retrieve(series, root, o);
        QVERIFY2(s.complete(), core::describeRetrieve(s).c_str());
        QCOMPARE(s.instancesReceived, size_t(7));
        for (const auto& ref : series)
            for (const std::string& sop : core::instancesInFolder(core::pacsSeriesFolder(root, ref.studyUid, ref.seriesUid))) {
                const std::string got = core::pacsInstancePath(root, ref.studyUid, ref.seriesUid, sop);
                QVERIFY2(m_seeded.count(sop), sop.c_str());
                const auto a = datasetBytes(got), b = datasetBytes(m_seeded[sop]);
                QVERIFY(!a.empty());
                QVERIFY2(a == b, ("dataset bytes differ for " + sop).c_str());
            }
        // Again: nothing travels.
        const core::RetrieveSummary again = core::PacsClient(node()).retrieve(series, root, o);
        QVERIFY(again.complete());
        QCOMPARE(again.instancesReceived, size_t(0));
        QCOMPARE(again.instancesAlreadyPresent, size_t(7));
    }

    void interruptedTransferIsKeptAndCompleted()
    {
        auto project = core::Project::openOrCreate(m_dir.filePath("project").toStdString(), 64);
        const std::vector<core::SeriesRef> series = {{"1.2.826.0.1.3680043.10.3", m_seriesBig}};
        core::PacsClient client(node());
        core::RetrieveCallbacks cb;
        const qint64 pid = m_orthanc.pid();
        cb.progress = [&](const core::RetrieveProgress& p) {
            if (p.instancesDone == 10)
                ::kill(static_cast<pid_t>(pid), SIGKILL); // the PACS dies mid-transfer
        };
        const core::PacsImportResult first = core::retrieveIntoProject(*project, client, series, {}, {}, cb);
        m_orthanc.waitForExit(10000);
        startOrthanc(); // first, so that a failed check below leaves the PACS up for the next tests
        QVERIFY(!first.retrieve.complete());
        QVERIFY(!first.retrieve.problems.empty());
        const std::string& problem = first.retrieve.problems.front();
        QVERIFY2(problem.find("closed the connection") != std::string::npos && problem.find("kept") != std::string::npos,
                 problem.c_str());
        QVERIFY(first.retrieve.instancesReceived >= 10 && first.retrieve.instancesReceived < 60);
        const size_t kept = first.retrieve.instancesReceived;
        QCOMPARE(static_cast<size_t>(first.import.filesImported), kept);
        const core::PacsImportResult second = core::retrieveIntoProject(*project, *std::make_unique<core::PacsClient>(node()), series, {}, {});
        QVERIFY2(second.retrieve.complete(), core::describeRetrieve(second.retrieve).c_str());
        QCOMPARE(second.retrieve.instancesAlreadyPresent, kept);
        QCOMPARE(second.retrieve.instancesReceived, 60 - kept);
        QCOMPARE(static_cast<size_t>(second.import.filesImported), 60 - kept);
        QCOMPARE(second.import.filesAlreadyPresent, kept);
        // No patient name in the project's files.
        for (const auto& e : std::filesystem::recursive_directory_iterator(project->dir()))
            if (e.is_regular_file() && e.path().string().find("/pacs/") == std::string::npos) {
                const auto bytes = readAll(e.path().string());
                QVERIFY2(std::search(bytes.begin(), bytes.end(), std::begin("Secret"), std::end("Secret") - 1) == bytes.end(),
                         e.path().c_str());
            }
    }

    void unknownMoveDestinationAndTakenPort()
    {
        core::RetrieveOptions o;
        o.method = core::RetrieveMethod::Move;
        o.storagePort = m_movePort;
        core::PacsClient stranger(node(), "STRANGER");
        const core::RetrieveSummary s = stranger.retrieve({{m_studyB, m_seriesB1}}, m_dir.filePath("stranger").toStdString(), o);
        QVERIFY(!s.complete());
        QVERIFY2(!s.problems.empty() && (s.problems[0].find("does not know the destination") != std::string::npos ||
                                           s.problems[0].find("must know 'STRANGER' as a destination") != std::string::npos),
                 s.problems.empty() ? "no problem" : s.problems[0].c_str());
        test::Listener busy;
        QVERIFY(busy.port > 0);
        o.storagePort = busy.port;
        const std::string e = test::errorOf([&] { core::PacsClient(node()).retrieve({{m_studyB, m_seriesB1}}, m_dir.filePath("busy").toStdString(), o); });
        QVERIFY2(e.find("is taken") != std::string::npos, e.c_str());
    }
};

QTEST_GUILESS_MAIN(TestPacs)
#include "TestPacs.moc"
