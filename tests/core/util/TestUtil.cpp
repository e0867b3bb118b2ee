#include "image/Image8.h"
#include "util/Csv.h"
#include "util/ContentHash.h"
#include "util/Text.h"

#include <QTemporaryDir>
#include <QTest>
#include <fstream>

using namespace medsiam::core;

class TestUtil : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void durationsReadAsTheUserExpects()
    {
        QCOMPARE(text::humanDuration(0.27), std::string("0.3s")); // a short transfer is not "0s"
        QCOMPARE(text::humanDuration(4.04), std::string("4.0s"));
        QCOMPARE(text::humanDuration(42.4), std::string("42s"));
        QCOMPARE(text::humanDuration(125), std::string("2m05s"));
        QCOMPARE(text::humanDuration(3 * 3600 + 7 * 60), std::string("3h07m"));
        QCOMPARE(text::humanDuration(-1), std::string("--"));
    }

    void fitKeepsAspectAndCentres()
    {
        Image8 src(40, 20, 1);
        std::fill(src.pixels.begin(), src.pixels.end(), 200);
        const FittedImage f = fitToSquare(src, 16);
        QCOMPARE(f.image.width, 16);
        QCOMPARE(f.content.width, 16);
        QCOMPARE(f.content.height, 8);
        QCOMPARE(f.content.y, 4);
        QCOMPARE(int(f.image.row(0)[0]), 0);        // padding stays black
        QCOMPARE(int(f.image.row(8)[8]), 200);      // content keeps its value
    }

    void resizeIsBilinearWhenEnlargingAndAveragesWhenShrinking()
    {
        // A horizontal ramp 0, 10, ..., 70 (8 px) enlarged 4x in both axes: the triangle filter is
        // bilinear interpolation between pixel centres, and every row is the same.
        Image8 ramp(8, 2, 1);
        for (int y = 0; y < 2; ++y)
            for (int x = 0; x < 8; ++x)
                ramp.row(y)[x] = static_cast<uint8_t>(10 * x);
        const Image8 big = resizeImage(ramp, 32, 8);
        for (int y = 0; y < 8; ++y) {
            QCOMPARE(int(big.row(y)[0]), 0);       // clamped at the edge
            QCOMPARE(int(big.row(y)[6]), 11);      // sampled at 1.125: 11.25
            QCOMPARE(int(big.row(y)[16]), 36);     // sampled at 3.625: 36.25
            QCOMPARE(int(big.row(y)[31]), 70);
        }
        // Shrinking averages: a 1-pixel checkerboard halved is flat grey (away from the edges,
        // where the filter is cut off).
        Image8 checker(16, 16, 3);
        for (int y = 0; y < 16; ++y)
            for (int x = 0; x < 16; ++x)
                for (int c = 0; c < 3; ++c)
                    checker.row(y)[x * 3 + c] = (x + y) % 2 ? 200 : 0;
        const Image8 half = resizeImage(checker, 8, 8);
        for (int y = 1; y < 7; ++y)
            for (int x = 3; x < 21; ++x)
                QVERIFY(std::abs(int(half.row(y)[x]) - 100) <= 1);
    }
};

QTEST_APPLESS_MAIN(TestUtil)
#include "TestUtil.moc"
