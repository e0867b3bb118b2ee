#include "image/Image8.h"
#include "util/Csv.h"
#include "util/ContentHash.h"

#include <QTemporaryDir>
#include <QTest>
#include <fstream>

using namespace medsiam::core;

class TestUtil : public QObject {
    Q_OBJECT
private Q_SLOTS:
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
};

QTEST_APPLESS_MAIN(TestUtil)
#include "TestUtil.moc"
