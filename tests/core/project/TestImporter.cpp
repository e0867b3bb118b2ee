// Folder import end to end: every format, labels, re-import, bad input, determinism.
#include "TestSupport.h"
#ifdef MEDSIAM_HAVE_DCMTK
#include "io/DicomWriter.h"
#endif

#include "data/ImageCache.h"
#include "io/ImageDecoder.h"
#include "io/VolumeDecoder.h"
#include "project/Importer.h"
#include "project/Project.h"
#include "util/Error.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#ifdef MEDSIAM_HAVE_ITK
#include <itkImage.h>
#include <itkImageFileWriter.h>
#endif
#ifdef MEDSIAM_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#endif

using namespace medsiam::core;
namespace fs = std::filesystem;

namespace {

ImportSummary runImport(Project& p, const std::vector<std::string>& sources, ImportOptions o = {})
{
    o.sources = sources;
    return importSources(p, o);
}

std::map<std::string, std::string> issueMap(Project& p)
{
    std::map<std::string, std::string> m;
    for (const auto& [path, reason] : p.issues())
        m[fs::path(path).filename().string()] = reason;
    return m;
}

int64_t count(Project& p, const std::string& sql) { return p.db().scalar(sql); }

} // namespace

class TestImporter : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { (void)DecoderRegistry::instance(); }

    void demoArchiveImportsWithLabelsAndSplits()
    {
        QTemporaryDir tmp;
        auto p = Project::create(tmp.filePath("demo").toStdString(), 32);
        const ImportSummary s = runImport(*p, {MEDSIAM_SOURCE_DIR "/datasets/pneumoniamnist_28.npz"});
        QCOMPARE(s.itemsAdded, int64_t(5030));
        QCOMPARE(s.filesWithIssues, size_t(0));
        const ProjectSummary sum = p->summary();
        QCOMPARE(sum.images, int64_t(5030));
        QCOMPARE(sum.labeled, int64_t(5030));
        // Classes come from the sidecar JSON, in label order.
        QCOMPARE(sum.byClass.at(0).first, std::string("normal"));
        QCOMPARE(sum.byClass.at(1).first, std::string("pneumonia"));
        QCOMPARE(sum.byClass.at(0).second + sum.byClass.at(1).second, int64_t(5030));
        QCOMPARE(sum.bySplit.at(0), std::make_pair(std::string("train"), int64_t(3882)));
        QCOMPARE(sum.bySplit.at(1), std::make_pair(std::string("val"), int64_t(524)));
        QCOMPARE(sum.bySplit.at(2), std::make_pair(std::string("test"), int64_t(624)));
        // The memory-mapped cache holds every image, letterboxed to 32 px.
        ImageCache cache(p->cacheDir(), 32, p->cacheEntries(32));
        QCOMPARE(cache.size(), size_t(5030));
        QCOMPARE(cache.entries()[0].channels, 1);
        QCOMPARE(cache.entries()[0].content.width, 32);
    }

#ifdef MEDSIAM_HAVE_ITK
    void volumesAreSliced_data()
    {
        QTest::addColumn<QString>("ext");
        QTest::newRow("NIfTI") << "nii.gz";
        QTest::newRow("MHA") << "mha";
        QTest::newRow("NRRD") << "nrrd";
    }
    void volumesAreSliced()
    {
        QFETCH(QString, ext);
        QTemporaryDir tmp;
        using Vol = itk::Image<short, 3>;
        auto vol = Vol::New();
        Vol::SizeType size{{12, 10, 8}};
        vol->SetRegions(Vol::RegionType(size));
        vol->Allocate();
        vol->FillBuffer(0);
        // Slices z = 0 and z = 7 stay empty; slice z has a gradient x*10 + z.
        for (unsigned z = 1; z < 7; ++z)
            for (unsigned y = 0; y < 10; ++y)
                for (unsigned x = 0; x < 12; ++x)
                    vol->SetPixel({{x, y, z}}, static_cast<short>(x * 10 + z));
        const std::string path = tmp.filePath("vol." + ext).toStdString();
        auto w = itk::ImageFileWriter<Vol>::New();
        w->SetFileName(path);
        w->SetInput(vol);
        w->Update();

        auto p = Project::create(tmp.filePath("p").toStdString(), 32);
        const ImportSummary s = runImport(*p, {path});
        QCOMPARE(s.itemsAdded, int64_t(6)); // the 6 slices with content (default: up to 16)
        QCOMPARE(count(*p, "SELECT MIN(frame_index) FROM images"), int64_t(1));
        QCOMPARE(count(*p, "SELECT MAX(frame_index) FROM images"), int64_t(6));

        // Pixel values: the volume's min-max (0 .. 116) to 0 .. 255.
        std::vector<Image8> slices;
        DecodeOptions o;
        o.frame = 3;
        VolumeDecoder().decode(path, o, [&](DecodedFrame&& f) { slices.push_back(std::move(f.image)); });
        QCOMPARE(slices.size(), size_t(1));
        QCOMPARE(slices[0].width, 12);
        QCOMPARE(slices[0].height, 10);
        for (int x = 0; x < 12; ++x)
            QCOMPARE(int(slices[0].pixels[x]), int(std::lround((x * 10 + 3) * 255.0 / 116.0)));

        // A slice count selects evenly spaced slices with content.
        VolumeSlicing three;
        three.count = 3;
        QCOMPARE(selectSlices({false, true, true, true, true, true, true, false}, three), (std::vector<int>{1, 4, 6}));
    }
#endif

#ifdef MEDSIAM_HAVE_OPENCV
    void rasterImages_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<int>("depth");
        QTest::newRow("png 8") << "a8.png" << CV_8U;
        QTest::newRow("png 16") << "a16.png" << CV_16U;
        QTest::newRow("tiff 8") << "a8.tif" << CV_8U;
        QTest::newRow("tiff 16") << "a16.tif" << CV_16U;
    }
    void rasterImages()
    {
        QFETCH(QString, name);
        QFETCH(int, depth);
        QTemporaryDir tmp;
        cv::Mat m(16, 16, depth);
        for (int y = 0; y < 16; ++y)
            for (int x = 0; x < 16; ++x) {
                if (depth == CV_8U)
                    m.at<uint8_t>(y, x) = static_cast<uint8_t>(y * 16 + x);
                else
                    m.at<uint16_t>(y, x) = static_cast<uint16_t>(1000 + (y * 16 + x) * 100);
            }
        const std::string path = tmp.filePath(name).toStdString();
        QVERIFY(cv::imwrite(path, m));
        auto p = Project::create(tmp.filePath("p").toStdString(), 16);
        QCOMPARE(runImport(*p, {path}).itemsAdded, int64_t(1));
        ImageCache cache(p->cacheDir(), 16, p->cacheEntries(16));
        const Image8 img = cache.image(0);
        for (int i = 0; i < 256; ++i) {
            const int want = depth == CV_8U ? i : static_cast<int>(std::lround(i * 255.0 / 255.0));
            QCOMPARE(int(img.pixels[i]), want); // 16-bit: min-max stretched, here exactly 0..255
        }
    }
#endif

#ifdef MEDSIAM_HAVE_DCMTK
    void badInputIsReportedAndTheRestImported()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath("src");
        QDir().mkpath(src + "/empty_folder");
        medsiam::test::DicomSpec good;
        good.pixels8.assign(64, 7);
        good.pixels8[0] = 200;
        medsiam::test::writeDicom((src + "/good.dcm").toStdString(), good);
        medsiam::test::writeBytes(src + "/zero.dcm", {});
        medsiam::test::writeText(src + "/notes.txt", "not an image\n");
        medsiam::test::DicomSpec nopix = good;
        nopix.withPixelData = false;
        medsiam::test::writeDicom((src + "/nopixels.dcm").toStdString(), nopix);
        medsiam::test::DicomSpec huge = good;
        huge.claimedRows = 40000;
        medsiam::test::writeDicom((src + "/huge_header").toStdString(), huge); // no extension
        medsiam::test::writeDicom((src + "/truncated.dcm").toStdString(), good);
        QFile t(src + "/truncated.dcm");
        QVERIFY(t.open(QIODevice::ReadWrite) && t.resize(t.size() - 20));
        t.close();
        QVERIFY(::symlink("does-not-exist.dcm", (src + "/dangling.dcm").toLocal8Bit().constData()) == 0);
        QVERIFY(::mkfifo((src + "/pipe").toLocal8Bit().constData(), 0644) == 0);
        QVERIFY(::symlink(".", (src + "/loop").toLocal8Bit().constData()) == 0); // a symlink loop

        auto p = Project::create(tmp.filePath("p").toStdString(), 16);
        const ImportSummary s = runImport(*p, {src.toStdString()});
        QCOMPARE(s.filesImported, size_t(1));
        const auto issues = issueMap(*p);
        QCOMPARE(issues.at("zero.dcm"), std::string("zero-byte file"));
        QVERIFY(issues.at("notes.txt").find("not an image file") == 0);
        QVERIFY(issues.at("nopixels.dcm").find("without pixel data") != std::string::npos);
        QVERIFY2(issues.at("huge_header").find("truncated pixel data: 40000x40000") == 0, issues.at("huge_header").c_str());
        QVERIFY(issues.at("truncated.dcm").find("truncated") != std::string::npos);
        QVERIFY(issues.at("dangling.dcm").find("broken symbolic link") != std::string::npos);
        QVERIFY(issues.at("pipe").find("not a regular file") == 0);
        QCOMPARE(issues.size(), size_t(7));

        // An empty source folder is not an error: nothing to import, nothing lost.
        const ImportSummary empty = runImport(*p, {(src + "/empty_folder").toStdString()});
        QCOMPARE(empty.filesFound, size_t(0));
    }

    void reimportIsIdempotentAndPicksUpNewFiles()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath("src");
        QDir().mkpath(src + "/a");
        auto write = [&](const QString& rel, uint8_t v, const std::string& patient) {
            medsiam::test::DicomSpec s;
            s.pixels8.assign(64, v);
            s.pixels8[0] = 0;
            s.patientId = patient;
            medsiam::test::writeDicom((src + "/" + rel).toStdString(), s);
        };
        write("a/1.dcm", 10, "P1");
        write("a/2.dcm", 20, "P2");
        auto p = Project::create(tmp.filePath("p").toStdString(), 16);
        QCOMPARE(runImport(*p, {src.toStdString()}).itemsAdded, int64_t(2));
        const ImportSummary again = runImport(*p, {src.toStdString()});
        QCOMPARE(again.itemsAdded, int64_t(0));
        QCOMPARE(again.filesAlreadyPresent, size_t(2));
        QCOMPARE(again.filesWithIssues, size_t(0));
        write("a/3.dcm", 30, "P3");
        QFile::copy(src + "/a/1.dcm", src + "/copy_of_1.dcm");
        const ImportSummary more = runImport(*p, {src.toStdString()});
        QCOMPARE(more.itemsAdded, int64_t(1));
        QCOMPARE(count(*p, "SELECT COUNT(*) FROM images"), int64_t(3));
        QVERIFY(issueMap(*p).at("copy_of_1.dcm").find("same content as") == 0);
    }

    void labelsFromCsv_data()
    {
        QTest::addColumn<QString>("keyColumn");
        QTest::addColumn<QString>("expectKind");
        QTest::newRow("relative path") << "path" << "path";
        QTest::newRow("file name") << "file" << "filename";
        QTest::newRow("SOPInstanceUID") << "sop" << "sop";
        QTest::newRow("PatientID") << "patient" << "patient";
    }
    void labelsFromCsv()
    {
        QFETCH(QString, keyColumn);
        QFETCH(QString, expectKind);
        QTemporaryDir tmp;
        const QString src = tmp.filePath("src");
        QDir().mkpath(src + "/case1");
        for (int i = 0; i < 3; ++i) {
            medsiam::test::DicomSpec s;
            s.pixels8.assign(64, static_cast<uint8_t>(50 + i));
            s.pixels8[0] = 0;
            s.patientId = "PAT" + std::to_string(i);
            s.sopUid = "1.2.826.0.1.3680043.8.498.777." + std::to_string(i);
            medsiam::test::writeDicom((src + QString("/case1/img%1.dcm").arg(i)).toStdString(), s);
        }
        std::string csv = "path,file,sop,patient,diagnosis,fold\n";
        for (int i = 0; i < 3; ++i)
            csv += "case1/img" + std::to_string(i) + ".dcm,img" + std::to_string(i) + ".dcm,1.2.826.0.1.3680043.8.498.777." +
                   std::to_string(i) + ",PAT" + std::to_string(i) + "," + (i == 2 ? "effusion" : "normal") + "," +
                   (i == 0 ? "test" : "train") + "\n";
        csv += "case9/missing.dcm,missing.dcm,9.9.9,NOPE,normal,train\n";
        medsiam::test::writeText(tmp.filePath("labels.csv"), csv);

        auto p = Project::create(tmp.filePath("p").toStdString(), 16);
        ImportOptions o;
        LabelCsvOptions l;
        l.csvPath = tmp.filePath("labels.csv").toStdString();
        l.keyColumn = keyColumn.toStdString();
        l.labelColumn = "diagnosis";
        l.splitColumn = "fold";
        o.labels = l;
        const ImportSummary s = runImport(*p, {src.toStdString()}, o);
        QVERIFY(s.labels.has_value());
        QCOMPARE(QString(labelKeyKindName(s.labels->keyKind)), expectKind);
        QCOMPARE(s.labels->imagesLabeled, size_t(3));
        QCOMPARE(s.labels->unmatchedKeys.size(), size_t(1)); // reported, not ignored
        QCOMPARE(count(*p, "SELECT COUNT(*) FROM labels l JOIN classes c ON c.id=l.class_id WHERE c.name='effusion'"), int64_t(1));
        QCOMPARE(count(*p, "SELECT COUNT(*) FROM splits WHERE split='test'"), int64_t(1));
        QCOMPARE(count(*p, "SELECT COUNT(*) FROM import_issues WHERE reason LIKE 'label key%matches no image%'"), int64_t(1));
    }

    void cancelKeepsWhatIsCommittedAndResumes()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath("src");
        QDir().mkpath(src);
        for (int i = 0; i < 40; ++i) {
            medsiam::test::DicomSpec s;
            s.pixels8.assign(64, static_cast<uint8_t>(i));
            s.pixels8[0] = 255;
            medsiam::test::writeDicom((src + QString("/%1.dcm").arg(i, 2, 10, QChar('0'))).toStdString(), s);
        }
        struct StopAfter : ImportObserver {
            CancelToken* token;
            void progress(const ImportProgress& p) override
            {
                if (p.filesDone >= 4)
                    token->requestStop();
            }
        };
        CancelToken cancel;
        StopAfter observer;
        observer.token = &cancel;
        auto p = Project::create(tmp.filePath("p").toStdString(), 16);
        ImportOptions o;
        o.sources = {src.toStdString()};
        o.threads = 1;
        o.chunkFiles = 1;
        const ImportSummary first = importSources(*p, o, &observer, &cancel);
        QVERIFY(first.cancelled);
        QVERIFY(first.filesImported >= 4 && first.filesImported < 40);
        QCOMPARE(count(*p, "SELECT COUNT(*) FROM images"), int64_t(first.filesImported));
        QCOMPARE(count(*p, "SELECT COUNT(*) FROM cache_entries"), int64_t(first.filesImported));
        // The next import finishes the job without duplicating anything.
        const ImportSummary rest = importSources(*p, o);
        QVERIFY(!rest.cancelled);
        QCOMPARE(rest.filesAlreadyPresent, first.filesImported);
        QCOMPARE(count(*p, "SELECT COUNT(*) FROM images"), int64_t(40));
        ImageCache cache(p->cacheDir(), 16, p->cacheEntries(16));
        QCOMPARE(cache.size(), size_t(40));
    }

    void csvWithUnknownColumnChangesNothing()
    {
        QTemporaryDir tmp;
        medsiam::test::writeText(tmp.filePath("l.csv"), "name,cls\na,b\n");
        auto p = Project::create(tmp.filePath("p").toStdString(), 16);
        ImportOptions o;
        o.sources = {tmp.filePath("l.csv").toStdString()};
        o.labels = LabelCsvOptions{tmp.filePath("l.csv").toStdString(), "filename", "cls", "", LabelKeyKind::Auto};
        QVERIFY_THROWS_EXCEPTION(UserError, importSources(*p, o));
        QCOMPARE(count(*p, "SELECT COUNT(*) FROM import_issues"), int64_t(0));
    }

    void classPerSubfolderAndDeterministicOrder()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath("src");
        for (const char* cls : {"benign", "malignant"}) {
            QDir().mkpath(src + "/" + cls);
            for (int i = 0; i < 6; ++i) {
                medsiam::test::DicomSpec s;
                s.pixels8.assign(64, static_cast<uint8_t>(i * 10 + (cls[0] == 'm' ? 100 : 0)));
                s.pixels8[0] = 255;
                medsiam::test::writeDicom((src + QString("/%1/%2.dcm").arg(cls).arg(i)).toStdString(), s);
            }
        }
        auto order = [&](int threads, const QString& name) {
            auto p = Project::create(tmp.filePath(name).toStdString(), 16);
            ImportOptions o;
            o.threads = threads;
            o.chunkFiles = 5;
            o.labelsFromFolders = true;
            runImport(*p, {src.toStdString()}, o);
            std::vector<std::string> rows;
            auto q = p->db().prepare("SELECT i.relative_path, c.name FROM images i JOIN labels l ON l.image_id=i.id "
                                     "JOIN classes c ON c.id=l.class_id ORDER BY i.id");
            while (q.step())
                rows.push_back(q.columnText(0) + "=" + q.columnText(1));
            return rows;
        };
        const auto one = order(1, "p1");
        const auto two = order(2, "p2");
        QCOMPARE(one.size(), size_t(12));
        QCOMPARE(one, two);
        QCOMPARE(one.front(), std::string("benign/0.dcm=benign"));
        QCOMPARE(one.back(), std::string("malignant/5.dcm=malignant"));
    }
#endif

    void schemaVersionAndNewerProjectRefused()
    {
        QTemporaryDir tmp;
        const std::string dir = tmp.filePath("p").toStdString();
        {
            auto p = Project::create(dir);
            QCOMPARE(p->db().userVersion(), Project::kSchemaVersion);
            p->db().setUserVersion(Project::kSchemaVersion + 1);
        }
        try {
            Project::open(dir);
            QFAIL("opened a project from a newer medsiam");
        } catch (const UserError& e) {
            QVERIFY(QString(e.what()).contains("newer medsiam"));
        }
        QVERIFY_THROWS_EXCEPTION(UserError, Project::open(tmp.filePath("nothing").toStdString()));
    }
};

QTEST_APPLESS_MAIN(TestImporter)
#include "TestImporter.moc"
