// t-SNE as a user relies on it: clusters stay together, the FFT-accelerated map agrees with the
// exact one, cancel is immediate, and bad input is refused with a message.
#include "TestSupport.h"
#include "analysis/Tsne.h"
#include "system/Runtime.h"
#include "util/Error.h"

#include <ATen/ATen.h>

#include <QtTest>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

using namespace medsiam::core;
using medsiam::test::errorOf;

namespace {

/// k well-separated Gaussian clusters in `dim` dimensions; labels by point.
at::Tensor clusters(int n, int dim, int k, std::vector<int>& labels, uint64_t seed = 0)
{
    at::manual_seed(static_cast<int64_t>(seed));
    const auto centers = at::randn({k, dim}) * 8;
    auto x = at::randn({n, dim});
    labels.resize(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
        labels[static_cast<size_t>(i)] = i % k;
        x[i] += centers[i % k];
    }
    return x;
}

/// For each point, its k nearest neighbours in a 2-D layout.
std::vector<std::vector<int>> layoutNeighbours(const std::vector<float>& layout, int k)
{
    const int64_t n = static_cast<int64_t>(layout.size() / 2);
    auto y = at::from_blob(const_cast<float*>(layout.data()), {n, 2}, at::kFloat).clone();
    const auto idx = nearestNeighbours(y, k).contiguous();
    std::vector<std::vector<int>> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
        for (int j = 0; j < k; ++j)
            out[static_cast<size_t>(i)].push_back(static_cast<int>(idx[i][j].item<int64_t>()));
    return out;
}

double withinClusterFraction(const std::vector<float>& layout, const std::vector<int>& labels)
{
    const auto nbr = layoutNeighbours(layout, 10);
    int64_t same = 0, total = 0;
    for (size_t i = 0; i < nbr.size(); ++i)
        for (int j : nbr[i]) {
            same += labels[static_cast<size_t>(j)] == labels[i];
            ++total;
        }
    return double(same) / double(total);
}

} // namespace

class TestTsne : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { configureThreads(2); }

    void clustersStayTogether()
    {
        std::vector<int> labels;
        const auto x = clusters(3000, 32, 10, labels);
        TsneConfig c;
        c.forceApproximate = true;
        const auto r = runTsne(x, c);
        QVERIFY(!r.exact);
        QCOMPARE(r.iterations, 1000);
        const double within = withinClusterFraction(r.layout, labels);
        qInfo("3000 points, 10 clusters, FFT-accelerated t-SNE in %.2f s: %.1f%% of 10-NN within the cluster, KL %.3f", r.seconds,
              100 * within, r.kl);
        QVERIFY(within >= 0.9);
    }

    void exactAndApproximateAgree()
    {
        std::vector<int> labels;
        const auto x = clusters(600, 16, 6, labels, 1);
        TsneConfig c;
        const auto exact = runTsne(x, c);
        QVERIFY(exact.exact);
        c.forceApproximate = true;
        const auto approx = runTsne(x, c);
        QVERIFY(!approx.exact);
        // The same input gives the same map, bit for bit (no thread-order dependence).
        QVERIFY(runTsne(x, c).layout == approx.layout);
        // Neighbourhood preservation: each point's 10 nearest neighbours in one map and in the other.
        const auto a = layoutNeighbours(exact.layout, 10), b = layoutNeighbours(approx.layout, 10);
        double overlap = 0;
        for (size_t i = 0; i < a.size(); ++i) {
            const std::set<int> sa(a[i].begin(), a[i].end());
            int common = 0;
            for (int j : b[i])
                common += sa.count(j) ? 1 : 0;
            overlap += common / 10.0;
        }
        overlap /= double(a.size());
        const double wa = withinClusterFraction(exact.layout, labels), wb = withinClusterFraction(approx.layout, labels);
        qInfo("600 points: exact KL %.4f, approximate KL %.4f; 10-NN overlap between the maps %.3f; within-cluster %.3f / %.3f",
              exact.kl, approx.kl, overlap, wa, wb);
        // The exact map uses affinities over all points, the approximate one over 3 x perplexity neighbours.
        QVERIFY(std::abs(exact.kl - approx.kl) < 0.1 * exact.kl);
        QVERIFY(overlap > 0.5);
        QVERIFY(wa > 0.95 && wb > 0.95);
    }

    void cancelStopsWithinOneIteration()
    {
        std::vector<int> labels;
        const auto x = clusters(2000, 16, 5, labels);
        TsneConfig c;
        c.progressEvery = 10;
        CancelToken cancel;
        int lastSeen = 0;
        int64_t points = 0;
        const auto r = runTsne(
            x, c,
            [&](const TsneProgress& p) {
                lastSeen = p.iteration;
                points = p.points;
                QVERIFY(p.layout != nullptr);
                if (p.iteration == 120)
                    cancel.requestStop();
            },
            &cancel);
        QVERIFY(r.cancelled);
        QCOMPARE(lastSeen, 120);
        QCOMPARE(r.iterations, 120);
        QCOMPARE(points, int64_t(2000));
        QCOMPARE(r.layout.size(), size_t(4000));
    }

    // The GPU's path (tensor operations: top-k neighbours, gathers, index_add_, FFTs) run on the
    // CPU: it must give maps as good as the CPU loops', exact and FFT-accelerated, and cancel.
    void theTensorPathThatCudaRunsMatchesTheLoops()
    {
        std::vector<int> labels;
        const auto big = clusters(2000, 32, 10, labels);
        TsneConfig c;
        c.forceApproximate = true;
        c.iterations = 500; // the tensor path is slow on the CPU; both paths run the same schedule
        const auto loops = runTsne(big, c);
        c.tensorOps = true;
        const auto tensors = runTsne(big, c);
        const double within = withinClusterFraction(tensors.layout, labels);
        qInfo("2000 points, FFT, 500 iterations: tensor path %.2f s, %.1f%% within the cluster, KL %.3f (loops %.3f)", tensors.seconds, 100 * within,
              tensors.kl, loops.kl);
        QVERIFY(within >= 0.9);
        QVERIFY(std::abs(tensors.kl - loops.kl) < 0.1 * loops.kl);

        std::vector<int> smallLabels;
        const auto small = clusters(300, 16, 6, smallLabels, 1);
        TsneConfig e;
        e.iterations = 500;
        const auto exactLoops = runTsne(small, e);
        e.tensorOps = true;
        const auto exactTensors = runTsne(small, e);
        QVERIFY(exactTensors.exact);
        qInfo("300 points, exact, 500 iterations: tensor path KL %.4f, loops %.4f", exactTensors.kl, exactLoops.kl);
        QVERIFY(withinClusterFraction(exactTensors.layout, smallLabels) >= 0.95);
        QVERIFY(std::abs(exactTensors.kl - exactLoops.kl) < 0.1 * exactLoops.kl);

        CancelToken cancel;
        e.progressEvery = 10;
        const auto cancelled = runTsne(
            small, e, [&](const TsneProgress& p) { if (p.iteration == 30) cancel.requestStop(); }, &cancel);
        QVERIFY(cancelled.cancelled);
        QCOMPARE(cancelled.iterations, 30);
        QCOMPARE(cancelled.layout.size(), size_t(600));
    }

    void asksForAGpuInWordsWhenThereIsNone()
    {
        if (at::hasCUDA())
            QSKIP("this machine has CUDA: the message for its absence cannot be shown here");
        std::vector<int> labels;
        TsneConfig c;
        c.useCuda = true;
        try {
            runTsne(clusters(100, 4, 2, labels), c);
            QFAIL("no error");
        } catch (const UserError& e) {
            QVERIFY(QString(e.what()).contains("no CUDA device"));
        }
    }

    void pcaFindsTheMainAxes()
    {
        at::manual_seed(2);
        auto x = at::randn({500, 5});
        x.select(1, 3).mul_(10); // the widest direction
        x.select(1, 1).mul_(4);  // the second
        const auto m = pcaMap(x);
        auto layout = at::from_blob(const_cast<float*>(m.data()), {500, 2}, at::kFloat);
        const double c0 = at::corrcoef(at::stack({layout.select(1, 0), x.select(1, 3)})).abs()[0][1].item<double>();
        const double c1 = at::corrcoef(at::stack({layout.select(1, 1), x.select(1, 1)})).abs()[0][1].item<double>();
        QVERIFY2(c0 > 0.99 && c1 > 0.95, qPrintable(QString("%1 %2").arg(c0).arg(c1)));
    }

    void badInputIsRefused()
    {
        QVERIFY(errorOf([] { runTsne(at::randn({3, 4}), {}); }).find("at least 4 points") != std::string::npos);
        QVERIFY(errorOf([] { runTsne(at::randn({60, 4}), {}); }).find("perplexity 30") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestTsne)
#include "TestTsne.moc"
