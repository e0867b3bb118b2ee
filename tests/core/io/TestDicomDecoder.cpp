// Generated DICOM files, decoded pixel for pixel: MONOCHROME1, 16-bit signed with rescale and
// window, multi-frame, RGB, JPEG-LS, RLE, lossless JPEG, implicit VR and big endian.
#include "DicomWriter.h"

#include "io/DicomDecoder.h"
#include "util/Error.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <QTemporaryDir>
#include <QTest>
#include <cmath>

using namespace medsiam::core;
using medsiam::test::DicomSpec;

namespace {

std::vector<uint8_t> ramp(int n, int channels = 1)
{
    std::vector<uint8_t> v(static_cast<size_t>(n) * channels);
    for (size_t i = 0; i < v.size(); ++i)
        v[i] = static_cast<uint8_t>((i * 255) / (v.size() - 1));
    return v;
}

/// A 10 x 10 CT slice: signed 16-bit stored -1000 .. 980, rescale 2x - 100 (HU), window W400/L40.
DicomSpec ctSpec()
{
    DicomSpec s;
    s.rows = s.columns = 10;
    s.bitsAllocated = 16;
    s.isSigned = true;
    s.rescale = true;
    s.slope = 2.0;
    s.intercept = -100.0;
    s.windowCentre = 40;
    s.windowWidth = 400;
    for (int i = 0; i < 100; ++i)
        s.pixels16.push_back(-1000 + i * 20);
    s.modality = "CT";
    return s;
}

/// What ctSpec's stored value should render as: its HU through the W400/L40 window.
int ctWindowed(int stored)
{
    const double hu = stored * 2.0 - 100.0;
    const double lo = 40 - 200, hi = 40 + 200;
    return static_cast<int>(std::lround(std::clamp((hu - lo) / (hi - lo), 0.0, 1.0) * 255));
}

std::vector<Image8> decodeAll(const std::string& path, ImageMeta* meta = nullptr)
{
    std::vector<Image8> frames;
    const ImageMeta m = DicomDecoder().decode(path, {}, [&](DecodedFrame&& f) { frames.push_back(std::move(f.image)); });
    if (meta)
        *meta = m;
    return frames;
}

} // namespace

class TestDicomDecoder : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    std::string file(const char* name) { return m_dir.filePath(name).toStdString(); }

private Q_SLOTS:
    void lossless8BitEncodings_data()
    {
        QTest::addColumn<QString>("syntax");
        QTest::newRow("explicit LE") << "explicit";
        QTest::newRow("implicit LE") << "implicit";
        QTest::newRow("big endian") << "bigendian";
        QTest::newRow("JPEG-LS") << "jpegls";
        QTest::newRow("RLE") << "rle";
        QTest::newRow("JPEG lossless") << "jpeg";
    }
    void lossless8BitEncodings()
    {
        QFETCH(QString, syntax);
        DicomSpec s;
        s.rows = 16;
        s.columns = 16;
        s.pixels8 = ramp(256);
        s.transferSyntax = syntax.toStdString();
        const std::string path = file(qPrintable("ramp_" + syntax + ".dcm"));
        medsiam::test::writeDicom(path, s);
        ImageMeta meta;
        const auto frames = decodeAll(path, &meta);
        QCOMPARE(frames.size(), size_t(1));
        QCOMPARE(frames[0].channels, 1);
        QCOMPARE(frames[0].pixels, s.pixels8); // min-max VOI of a full ramp is the identity
        QCOMPARE(meta.patientId, std::string("PAT001"));
        QCOMPARE(meta.rows, 16);
    }

    void monochrome1IsInverted()
    {
        DicomSpec s;
        s.photometric = "MONOCHROME1";
        s.pixels8 = ramp(64);
        medsiam::test::writeDicom(file("mono1.dcm"), s);
        const auto frames = decodeAll(file("mono1.dcm"));
        QCOMPARE(frames.size(), size_t(1));
        for (size_t i = 0; i < 64; ++i)
            QCOMPARE(int(frames[0].pixels[i]), 255 - int(s.pixels8[i]));
    }

    void signed16WithRescaleAndWindow()
    {
        const DicomSpec s = ctSpec();
        medsiam::test::writeDicom(file("ct16.dcm"), s);
        const auto frames = decodeAll(file("ct16.dcm"));
        QCOMPARE(frames.size(), size_t(1));
        for (int i = 0; i < 100; ++i)
            QCOMPARE(int(frames[0].pixels[i]), ctWindowed(s.pixels16[i]));
        // The window actually clips: air is black, bone white.
        QCOMPARE(int(frames[0].pixels[0]), 0);
        QCOMPARE(int(frames[0].pixels[99]), 255);
    }

    /// 12 bits stored in 16: the unused high bits (here set, as some scanners leave them) are
    /// ignored and the 12-bit value is sign-extended, in every encoding.
    void twelveBitsStoredInSixteen_data()
    {
        QTest::addColumn<QString>("syntax");
        for (const char* x : {"explicit", "implicit", "bigendian", "rle"})
            QTest::newRow(x) << QString(x);
    }
    void twelveBitsStoredInSixteen()
    {
        QFETCH(QString, syntax);
        DicomSpec s;
        s.rows = s.columns = 8;
        s.bitsAllocated = 16;
        s.bitsStored = 12;
        s.isSigned = true;
        s.windowCentre = 0;
        s.windowWidth = 4096; // the whole 12-bit range: -2048 .. 2047
        s.transferSyntax = syntax.toStdString();
        std::vector<int> values;
        for (int i = 0; i < 64; ++i) {
            const int v = -2048 + i * 64; // -2048 .. 1984
            values.push_back(v);
            s.pixels16.push_back((v & 0x0FFF) | (i % 2 ? 0xF000 : 0x5000)); // junk above bit 11
        }
        const std::string path = file(qPrintable("bits12-" + syntax + ".dcm"));
        medsiam::test::writeDicom(path, s);
        const auto frames = decodeAll(path);
        QCOMPARE(frames.size(), size_t(1));
        for (int i = 0; i < 64; ++i) {
            const int want = static_cast<int>(std::lround(std::clamp((values[i] + 2048) / 4096.0, 0.0, 1.0) * 255));
            QCOMPARE(int(frames[0].pixels[i]), want);
        }
    }

    /// Some writers declare explicit VR in the meta header but write the dataset in implicit VR
    /// (the pydicom corpus's SC_rgb_jpeg.dcm does so with JPEG pixel data). Such files are read
    /// as what they are, with every value intact.
    void implicitDatasetUnderAnExplicitMetaHeader()
    {
        DicomSpec s = ctSpec();
        s.patientId = "PAT-IMPLICIT";
        s.transferSyntax = "implicit";
        s.declaredTransferSyntaxUid = UID_LittleEndianExplicitTransferSyntax;
        medsiam::test::writeDicom(file("mislabelled.dcm"), s);
        // The file really is mislabelled: read as its meta header says, it does not load.
        DcmFileFormat plain;
        QVERIFY(plain.loadFile(file("mislabelled.dcm").c_str()).bad());

        ImageMeta meta;
        const auto frames = decodeAll(file("mislabelled.dcm"), &meta);
        QCOMPARE(frames.size(), size_t(1));
        QCOMPARE(meta.patientId, std::string("PAT-IMPLICIT"));
        QCOMPARE(meta.modality, std::string("CT"));
        for (int i = 0; i < 100; ++i)
            QCOMPARE(int(frames[0].pixels[i]), ctWindowed(s.pixels16[i]));
        // The viewer's tag list reads it too.
        bool found = false;
        for (const auto& tag : DicomDecoder::readTags(file("mislabelled.dcm")))
            found = found || (tag.tag == "(0010,0020)" && tag.value == "PAT-IMPLICIT");
        QVERIFY(found);
    }

    void multiFrameGivesOneItemPerFrame()
    {
        DicomSpec s;
        s.frames = 3;
        s.rows = s.columns = 4;
        for (int f = 0; f < 3; ++f)
            for (int i = 0; i < 16; ++i)
                s.pixels8.push_back(static_cast<uint8_t>(i * 17 * (f + 1) / 3)); // different range per frame
        medsiam::test::writeDicom(file("multi.dcm"), s);
        ImageMeta meta;
        const auto frames = decodeAll(file("multi.dcm"), &meta);
        QCOMPARE(meta.frameCount, 3);
        QCOMPARE(frames.size(), size_t(3));
        for (int f = 0; f < 3; ++f) {
            // Each frame is min-max windowed on its own.
            const uint8_t* raw = &s.pixels8[f * 16];
            const auto [mn, mx] = std::minmax_element(raw, raw + 16);
            for (int i = 0; i < 16; ++i)
                QCOMPARE(int(frames[f].pixels[i]), int(std::lround((raw[i] - *mn) * 255.0 / (*mx - *mn))));
        }
        // A single frame can be asked for (the viewer does).
        DecodeOptions one;
        one.frame = 2;
        std::vector<int> seen;
        DicomDecoder().decode(file("multi.dcm"), one, [&](DecodedFrame&& f) { seen.push_back(f.index); });
        QCOMPARE(seen, std::vector<int>{2});
    }

    void rgbStaysColour_data()
    {
        QTest::addColumn<QString>("syntax");
        QTest::newRow("explicit") << "explicit";
        QTest::newRow("RLE") << "rle";
        QTest::newRow("JPEG-LS") << "jpegls";
    }
    void rgbStaysColour()
    {
        QFETCH(QString, syntax);
        DicomSpec s;
        s.rows = s.columns = 8;
        s.samplesPerPixel = 3;
        s.photometric = "RGB";
        s.pixels8 = ramp(64, 3);
        for (size_t i = 0; i < s.pixels8.size(); i += 3)
            std::swap(s.pixels8[i], s.pixels8[i + 2]); // not grey
        s.transferSyntax = syntax.toStdString();
        const std::string path = file(qPrintable("rgb_" + syntax + ".dcm"));
        medsiam::test::writeDicom(path, s);
        const auto frames = decodeAll(path);
        QCOMPARE(frames.size(), size_t(1));
        QCOMPARE(frames[0].channels, 3);
        QCOMPARE(frames[0].pixels, s.pixels8);
    }

    /// Ultrasound cine as scanners store it: multi-frame JPEG baseline in YBR_FULL_422. Each of
    /// the 30 frames is an item, in colour, and close to what was encoded (JPEG is lossy).
    void ultrasoundCineInYbrFull422()
    {
        DicomSpec s;
        s.rows = 48;
        s.columns = 64;
        s.frames = 30;
        s.samplesPerPixel = 3;
        s.photometric = "RGB";
        s.modality = "US";
        for (int f = 0; f < s.frames; ++f)
            for (int y = 0; y < s.rows; ++y)
                for (int x = 0; x < s.columns; ++x) {
                    // A smooth scene that moves with the frame: JPEG keeps it within a few levels.
                    s.pixels8.push_back(static_cast<uint8_t>(40 + 3 * x + f / 2));
                    s.pixels8.push_back(static_cast<uint8_t>(30 + 4 * y));
                    s.pixels8.push_back(static_cast<uint8_t>(120 + f * 2));
                }
        s.transferSyntax = "jpeg-baseline";
        medsiam::test::writeDicom(file("cine.dcm"), s);
        {
            DcmFileFormat ff;
            QVERIFY(ff.loadFile(file("cine.dcm").c_str()).good());
            OFString photometric;
            ff.getDataset()->findAndGetOFString(DCM_PhotometricInterpretation, photometric);
            QCOMPARE(std::string(photometric.c_str()), std::string("YBR_FULL_422"));
        }
        ImageMeta meta;
        std::vector<DecodedFrame> frames;
        meta = DicomDecoder().decode(file("cine.dcm"), {}, [&](DecodedFrame&& f) { frames.push_back(std::move(f)); });
        QCOMPARE(meta.frameCount, 30);
        QCOMPARE(frames.size(), size_t(30));
        const size_t frameBytes = size_t(s.rows) * s.columns * 3;
        for (int f = 0; f < 30; ++f) {
            QCOMPARE(frames[size_t(f)].index, f);
            QCOMPARE(frames[size_t(f)].image.channels, 3);
            // What was encoded, min-max stretched over the three channels as colour frames are;
            // JPEG at quality 95 with 4:2:2 chroma stays within a few levels of it on average.
            const uint8_t* in = s.pixels8.data() + frameBytes * size_t(f);
            const auto [mn, mx] = std::minmax_element(in, in + frameBytes);
            double error = 0;
            const auto& px = frames[size_t(f)].image.pixels;
            for (size_t i = 0; i < frameBytes; ++i)
                error += std::abs(double(px[i]) - (in[i] - *mn) * 255.0 / (*mx - *mn));
            error /= double(frameBytes);
            QVERIFY2(error < 4.0, qPrintable(QString("frame %1 differs from what was encoded by %2 levels on average").arg(f).arg(error)));
        }
    }

    void badFilesGiveReasons_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("reason");
        QTest::newRow("no pixel data") << "nopixels" << "without pixel data";
        QTest::newRow("huge header, tiny payload") << "huge" << "truncated pixel data";
        QTest::newRow("truncated") << "truncated" << "truncated";
    }
    void badFilesGiveReasons()
    {
        QFETCH(QString, kind);
        QFETCH(QString, reason);
        const std::string path = file(qPrintable("bad_" + kind + ".dcm"));
        DicomSpec s;
        s.pixels8 = ramp(64);
        if (kind == "nopixels")
            s.withPixelData = false;
        if (kind == "huge")
            s.claimedRows = 40000;
        medsiam::test::writeDicom(path, s);
        if (kind == "truncated") {
            QFile f(QString::fromStdString(path));
            QVERIFY(f.open(QIODevice::ReadWrite));
            QVERIFY(f.resize(f.size() - 30));
        }
        try {
            decodeAll(path);
            QFAIL("decoding a bad file succeeded");
        } catch (const UserError& e) {
            QVERIFY2(QString(e.what()).contains(reason), e.what());
        }
    }
};

QTEST_APPLESS_MAIN(TestDicomDecoder)
#include "TestDicomDecoder.moc"
