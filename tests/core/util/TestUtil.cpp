#include "image/Image8.h"
#include "util/Csv.h"
#include "util/ContentHash.h"
#include "util/Prefetcher.h"
#include "util/Text.h"

#include <QTemporaryDir>
#include <QTest>
#include <atomic>
#include <chrono>
#include <fstream>
#include <stdexcept>
#include <thread>

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

    /// A training loop that asks for step s + 1 ahead gets, for every step, what it would have
    /// made itself, made on the worker while it worked on step s.
    void prefetchedItemsAreTheItemsMadeInTurn()
    {
        const auto item = [](int64_t key) { return std::to_string(key * key) + "/" + std::to_string(key % 7); };
        const std::thread::id caller = std::this_thread::get_id();
        std::atomic<int> made{0}, madeElsewhere{0}, running{0}, mostAtOnce{0};
        Prefetcher<std::string> prefetch([&](int64_t key) {
            ++made;
            const int now = ++running;
            mostAtOnce = std::max(mostAtOnce.load(), now);
            if (std::this_thread::get_id() != caller)
                ++madeElsewhere;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            --running;
            return item(key);
        });
        for (int64_t step = 0; step < 20; ++step) {
            QCOMPARE(prefetch.take(step), item(step));
            prefetch.ahead(step + 1);
            QVERIFY(prefetch.madeAhead(step + 1));
            prefetch.ahead(step + 1); // asked twice: made once
        }
        // A step asked for out of turn (a resumed loop, a calibration pass) is made when asked;
        // step 20's, made ahead and taken by nobody, is dropped.
        QCOMPARE(prefetch.take(5), item(5));
        QVERIFY(!prefetch.madeAhead(20));
        QCOMPARE(prefetch.take(5), item(5));
        QCOMPARE(made.load(), 20 + 1 + 2);   // each step once, 20's ahead, 5's twice when asked
        QCOMPARE(madeElsewhere.load(), 20); // every step after the first, and 20's
        QCOMPARE(mostAtOnce.load(), 1);     // make is never called twice at once
    }

    void aPrefetchErrorIsThrownWhereTheItemIsTaken()
    {
        Prefetcher<int> prefetch([](int64_t key) -> int {
            if (key == 3)
                throw std::runtime_error("cache entry 3 is unreadable");
            return int(key);
        });
        QCOMPARE(prefetch.take(2), 2);
        prefetch.ahead(3);
        try {
            prefetch.take(3);
            QFAIL("the worker's error was lost");
        } catch (const std::runtime_error& e) {
            QCOMPARE(std::string(e.what()), std::string("cache entry 3 is unreadable"));
        }
        QCOMPARE(prefetch.take(4), 4); // and the loop can go on
        Prefetcher<int> off([](int64_t key) { return int(key) + 1; }, false);
        off.ahead(1);
        QVERIFY(!off.madeAhead(1));
        QCOMPARE(off.take(1), 2);
    }

    /// A loop that stops (cancelled, failed) with an item in the making ends without waiting
    /// for more than that item.
    void aPrefetcherStopsWithItsLoop()
    {
        std::atomic<int> made{0};
        const auto t = std::chrono::steady_clock::now();
        {
            Prefetcher<int> prefetch([&](int64_t key) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                ++made;
                return int(key);
            });
            prefetch.ahead(1);
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        QCOMPARE(made.load(), 1);
        QVERIFY(std::chrono::steady_clock::now() - t < std::chrono::seconds(5));
    }
};

QTEST_APPLESS_MAIN(TestUtil)
#include "TestUtil.moc"
