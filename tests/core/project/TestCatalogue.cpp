// What the desktop views rely on in core: the catalogue, batch labels, the class schema,
// label CSV export/preview, full-resolution source frames with real values, and windowing.
#include "TestSupport.h"
#ifdef MEDSIAM_HAVE_DCMTK
#include "io/DicomWriter.h"
#endif

#include "image/Png.h"
#include "image/Window.h"
#include "io/SourceImage.h"
#include "project/Importer.h"
#include "project/Project.h"
#include "util/Csv.h"
#include "util/Error.h"

#include <QDir>
#include <QTemporaryDir>
#include <QTest>

using namespace medsiam::core;

namespace {

// n grey PNGs of 8x8 in folder/<sub>/img<i>.png, pixel value i*5.
void writePngs(const QString& folder, int n, const QString& sub = "a")
{
    QDir().mkpath(folder + "/" + sub);
    for (int i = 0; i < n; ++i) {
        Image8 img(8, 8, 1);
        std::fill(img.pixels.begin(), img.pixels.end(), uint8_t(i * 5));
        img.pixels[0] = 255;
        writePng((folder + QString("/%1/img%2.png").arg(sub).arg(i)).toStdString(), img);
    }
}

// A new project (16 px cache) holding the images of `src`.
std::unique_ptr<Project> importFolder(const QString& projectDir, const QString& src)
{
    auto p = Project::create(projectDir.toStdString(), 16);
    ImportOptions o;
    o.sources = {src.toStdString()};
    importSources(*p, o);
    return p;
}

} // namespace

class TestCatalogue : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void windowMapsValuesLinearlyAndDragFollowsRadiologyConvention()
    {
        // A CT ramp from -1000 to 1000 HU through the lung window (L -600, W 1500).
        std::vector<float> v = {-2000, -1350, -600, 150, 1000};
        const WindowLevel lung = ctWindowPresets().at(0).window;
        QCOMPARE(ctWindowPresets().at(0).name, std::string("CT lung"));
        const Image8 out = applyWindow(v, 5, 1, lung, false);
        QCOMPARE(int(out.pixels[0]), 0);   // below the window
        QCOMPARE(int(out.pixels[1]), 0);   // the window's lower edge
        QCOMPARE(int(out.pixels[2]), 128); // the level: middle grey (127.5 rounds up)
        QCOMPARE(int(out.pixels[3]), 255); // the upper edge
        QCOMPARE(int(out.pixels[4]), 255);
        const Image8 inverted = applyWindow(v, 5, 1, lung, true);
        QCOMPARE(int(inverted.pixels[0]), 255);
        // Brain window (L 40, W 80): 0 HU black, 20 HU a quarter grey, 80 HU white.
        const Image8 brain = applyWindow(std::vector<float>{0, 20, 80}, 3, 1, ctWindowPresets().at(2).window, false);
        QCOMPARE(int(brain.pixels[0]), 0);
        QCOMPARE(int(brain.pixels[1]), 64);
        QCOMPARE(int(brain.pixels[2]), 255);
        // Right-drag: right widens, down raises the level, 512 px spans the range.
        const WindowLevel d = dragWindow({40, 80}, 256, -128, 2048);
        QCOMPARE(d.width, 80 + 1024.0);
        QCOMPARE(d.centre, 40 - 512.0);
        QVERIFY(dragWindow({40, 80}, -10000, 0, 2048).width > 0); // never collapses
        // 8-bit images window over their byte values.
        Image8 rgb(1, 1, 3);
        rgb.pixels = {0, 120, 200};
        const Image8 w = applyWindow(rgb, {100, 200});
        QCOMPARE(int(w.pixels[0]), 0);
        QCOMPARE(int(w.pixels[1]), 153); // 120 * 255 / 200
        QCOMPARE(int(w.pixels[2]), 255);
    }

    void catalogueBatchLabelsAndClassSchema()
    {
        QTemporaryDir tmp;
        writePngs(tmp.filePath("src"), 6);
        auto p = importFolder(tmp.filePath("p"), tmp.filePath("src"));
        const auto rows = p->catalogue();
        QCOMPARE(rows.size(), size_t(6));
        QCOMPARE(rows[0].relativePath, std::string("a/img0.png"));
        QCOMPARE(rows[0].classId, int64_t(-1));
        QCOMPARE(rows[0].rows, 8);
        const int64_t a = p->ensureClass("normal"), b = p->ensureClass("pneumonia");
        p->setLabels({{rows[0].imageId, a}, {rows[1].imageId, b}, {rows[2].imageId, b}}, "user");
        QCOMPARE(p->labelCounts()[a], int64_t(1));
        QCOMPARE(p->labelCounts()[b], int64_t(2));
        p->setLabels({{rows[1].imageId, -1}}, "user"); // clears
        QCOMPARE(p->catalogue()[1].classId, int64_t(-1));
        QCOMPARE(p->catalogue()[2].classId, b);

        // Names and keys stay unique; a plain message says which class holds them.
        p->updateClass({a, "Normal lung", "#00ff00", "1"});
        QVERIFY_THROWS_EXCEPTION(UserError, p->updateClass({b, "Normal lung", "", ""}));
        try {
            p->updateClass({b, "pneumonia", "", "1"});
            QFAIL("a taken key was accepted");
        } catch (const UserError& e) {
            QVERIFY2(std::string(e.what()).find("Normal lung") != std::string::npos, e.what());
        }
        QCOMPARE(p->classes()[0].name, std::string("Normal lung"));
        QCOMPARE(p->classes()[0].color, std::string("#00ff00"));
        // Removing a class takes its labels with it, and says how many.
        QCOMPARE(p->removeClass(b), int64_t(1));
        QCOMPARE(p->classes().size(), size_t(1));
        QCOMPARE(p->labelCounts().count(b), size_t(0));
    }

    void labelCsvExportReadsBackAndPreviewMatchesBeforeImport()
    {
        QTemporaryDir tmp;
        writePngs(tmp.filePath("src"), 4);
        auto p = importFolder(tmp.filePath("p"), tmp.filePath("src"));
        const auto rows = p->catalogue();
        const int64_t a = p->ensureClass("cat a");
        const int64_t b = p->ensureClass("cat, b"); // a comma needs quoting
        p->setLabels({{rows[0].imageId, a}, {rows[3].imageId, b}}, "user");
        p->setSplit(rows[3].imageId, "test");
        const std::string csv = tmp.filePath("labels.csv").toStdString();
        QCOMPARE(exportLabelCsv(*p, csv), size_t(2));
        const CsvTable t = readCsv(csv);
        QCOMPARE(t.rows.size(), size_t(2));
        QCOMPARE(t.rows[1][0], std::string("a/img3.png"));
        QCOMPARE(t.rows[1][1], std::string("cat, b"));
        QCOMPARE(t.rows[1][2], std::string("test"));

        // Into a fresh project of the same folder: the same labels.
        auto q = importFolder(tmp.filePath("q"), tmp.filePath("src"));
        LabelCsvOptions l;
        l.csvPath = csv;
        l.keyColumn = "image";
        l.labelColumn = "label";
        l.splitColumn = "split";
        const LabelImportResult r = applyLabelCsv(*q, l);
        QCOMPARE(r.imagesLabeled, size_t(2));
        const auto qrows = q->catalogue();
        QCOMPARE(q->classes().size(), size_t(2));
        QCOMPARE(qrows[3].split, std::string("test"));
        QVERIFY(qrows[0].classId > 0 && qrows[1].classId < 0 && qrows[3].classId > 0);

        // The preview, before importing, matches keys against the files in the folder.
        medsiam::test::writeText(tmp.filePath("pre.csv"), "file,label\nimg1.png,x\nimg2.png,y\nmissing.png,z\n");
        LabelCsvOptions pre;
        pre.csvPath = tmp.filePath("pre.csv").toStdString();
        pre.keyColumn = "file";
        pre.labelColumn = "label";
        auto empty = Project::create(tmp.filePath("r").toStdString(), 16);
        const LabelCsvPreview v = previewLabelCsv(pre, {tmp.filePath("src").toStdString()}, empty.get());
        QCOMPARE(v.keyKind, LabelKeyKind::FileName);
        QCOMPARE(v.rows, size_t(3));
        QCOMPARE(v.matchedRows, size_t(2));
        QCOMPARE(v.unmatchedKeys, std::vector<std::string>{"missing.png"});
        pre.labelColumn = "diagnosis";
        QVERIFY_THROWS_EXCEPTION(UserError, previewLabelCsv(pre, {}, empty.get()));
    }

    void sourceFramesKeepTheirValues()
    {
        QTemporaryDir tmp;
        writePngs(tmp.filePath("src"), 3);
        const SourceFrame f = decodeSourceFrame(tmp.filePath("src/a/img2.png").toStdString(), 0);
        QCOMPARE(f.frame.image.width, 8);
        QCOMPARE(f.frame.values.size(), size_t(64));
        QCOMPARE(f.frame.values[1], 10.0f);
        QCOMPARE(f.frame.values[0], 255.0f);
        try {
            decodeSourceFrame(tmp.filePath("src/a/gone.png").toStdString(), 0);
            QFAIL("a missing file decoded");
        } catch (const UserError& e) {
            QVERIFY2(std::string(e.what()).find("missing") != std::string::npos, e.what());
        }
        const auto tags = readSourceTags(tmp.filePath("src/a/img2.png").toStdString());
        QCOMPARE(tags.at(0).name, std::string("Format"));
        QCOMPARE(QString::fromStdString(tags.at(0).value).toUpper(), QString("PNG"));
        QCOMPARE(tags.at(1).value, std::string("8")); // columns
    }

#ifdef MEDSIAM_HAVE_DCMTK
    void dicomFramesCarryHounsfieldUnitsAndTheFileWindow()
    {
        QTemporaryDir tmp;
        medsiam::test::DicomSpec s;
        s.rows = 2;
        s.columns = 2;
        s.bitsAllocated = 16;
        s.pixels16 = {0, 400, 1024, 2048};
        s.rescale = true;
        s.slope = 1;
        s.intercept = -1024;
        s.windowCentre = 40;
        s.windowWidth = 400;
        s.modality = "CT";
        const std::string path = tmp.filePath("ct.dcm").toStdString();
        medsiam::test::writeDicom(path, s);
        const SourceFrame f = decodeSourceFrame(path, 0);
        QCOMPARE(f.frame.values, (std::vector<float>{-1024, -624, 0, 1024}));
        QCOMPARE(f.frame.windowCentre, 40.0);
        QCOMPARE(f.frame.windowWidth, 400.0);
        // The stored 8-bit rendering is that window applied to those values.
        const Image8 again = applyWindow(f.frame.values, 2, 2, {40, 400}, false);
        QCOMPARE(again.pixels, f.frame.image.pixels);
        bool patient = false;
        for (const auto& t : readSourceTags(path))
            patient |= t.tag == "(0010,0020)" && t.value == "PAT001";
        QVERIFY(patient);
        try {
            decodeSourceFrame(path, 3);
            QFAIL("frame 3 of a one-frame file decoded");
        } catch (const UserError& e) {
            QVERIFY2(std::string(e.what()).find("does not exist") != std::string::npos, e.what());
        }
    }
#endif
};

QTEST_GUILESS_MAIN(TestCatalogue)
#include "TestCatalogue.moc"
