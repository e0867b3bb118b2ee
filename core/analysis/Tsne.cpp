#include "analysis/Tsne.h"

#include "util/Error.h"

#include <ATen/ATen.h>
#ifdef MEDSIAM_HAVE_HNSWLIB
#include <hnswlib/hnswlib.h>
#endif
#include <ATen/Parallel.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>

namespace medsiam::core {

namespace {

/// Sparse symmetric affinities: row i holds (column, P_ij), P summing to 1 overall.
struct SparseP {
    std::vector<int64_t> rowStart; // N + 1
    std::vector<int32_t> col;
    std::vector<float> val;
};

/// The attractive force on one point: the sum over its affinities p_ij of p_ij q_ij (y_i - y_j)
/// (unnormalized q), from the map's coordinates in two arrays (one gather per axis). Single
/// precision: this sparse sum is the largest cost per iteration. Sixteen independent partial sums
/// let the compiler vectorize the arithmetic (explicit AVX-512 gathers were measured no faster).
void attraction(float xi, float yi, const float* xs, const float* ys, const int32_t* cols, const float* vals, int64_t count,
                       float& axOut, float& ayOut)
{
    constexpr int lanes = 16;
    float ax[lanes] = {}, ay[lanes] = {};
    int64_t e = 0;
    for (; e + lanes <= count; e += lanes)
        for (int l = 0; l < lanes; ++l) {
            const int32_t j = cols[e + l];
            const float dx = xi - xs[j], dy = yi - ys[j];
            const float pq = vals[e + l] / (1.f + dx * dx + dy * dy);
            ax[l] += pq * dx;
            ay[l] += pq * dy;
        }
    for (int l = 0; e < count; ++e, ++l) {
        const int32_t j = cols[e];
        const float dx = xi - xs[j], dy = yi - ys[j];
        const float pq = vals[e] / (1.f + dx * dx + dy * dy);
        ax[l] += pq * dx;
        ay[l] += pq * dy;
    }
    float sx = 0, sy = 0;
    for (int l = 0; l < lanes; ++l) {
        sx += ax[l];
        sy += ay[l];
    }
    axOut = sx;
    ayOut = sy;
}

/// Binary search of the Gaussian precision that gives row i the wanted perplexity (natural log
/// entropy), over the given squared distances; writes the conditional probabilities.
void conditionalRow(const float* d2, int k, double perplexity, float* out)
{
    const double wanted = std::log(perplexity);
    // Start near the answer (the reciprocal of the mean squared distance) rather than at 1: the
    // same calibration in a tenth of the steps when distances are large.
    double mean = 0;
    for (int j = 0; j < k; ++j)
        mean += d2[j];
    mean /= std::max(1, k);
    double beta = mean > 0 ? 1.0 / mean : 1.0, lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
    std::vector<double> p(static_cast<size_t>(k));
    for (int iter = 0; iter < 100; ++iter) {
        double sum = 0;
        for (int j = 0; j < k; ++j)
            sum += p[static_cast<size_t>(j)] = std::exp(-double(d2[j]) * beta);
        if (sum == 0)
            sum = 1e-8;
        double entropy = 0;
        for (int j = 0; j < k; ++j)
            entropy += beta * double(d2[j]) * p[static_cast<size_t>(j)];
        entropy = std::log(sum) + entropy / sum;
        const double diff = entropy - wanted;
        for (int j = 0; j < k; ++j)
            out[j] = static_cast<float>(p[static_cast<size_t>(j)] / sum);
        if (std::abs(diff) < 1e-5)
            break;
        if (diff > 0) {
            lo = beta;
            beta = std::isinf(hi) ? beta * 2 : (beta + hi) / 2;
        } else {
            hi = beta;
            beta = std::isinf(lo) ? beta / 2 : (beta + lo) / 2;
        }
    }
}

SparseP symmetrize(int64_t n, int k, const int64_t* nbr, const float* cond)
{
    // CSR of P + P^T: count each row's entries, fill, then sort and merge each row in parallel.
    std::vector<int64_t> count(static_cast<size_t>(n) + 1, 0);
    for (int64_t i = 0; i < n; ++i)
        for (int j = 0; j < k; ++j) {
            ++count[static_cast<size_t>(i) + 1];
            ++count[static_cast<size_t>(nbr[i * k + j]) + 1];
        }
    for (int64_t i = 0; i < n; ++i)
        count[static_cast<size_t>(i) + 1] += count[static_cast<size_t>(i)];
    std::vector<std::pair<int32_t, float>> entries(static_cast<size_t>(count.back()));
    std::vector<int64_t> fill(count.begin(), count.end() - 1);
    for (int64_t i = 0; i < n; ++i)
        for (int j = 0; j < k; ++j) {
            const int64_t c = nbr[i * k + j];
            const float v = cond[i * k + j];
            entries[static_cast<size_t>(fill[static_cast<size_t>(i)]++)] = {static_cast<int32_t>(c), v};
            entries[static_cast<size_t>(fill[static_cast<size_t>(c)]++)] = {static_cast<int32_t>(i), v};
        }
    std::vector<int64_t> kept(static_cast<size_t>(n), 0);
    at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            auto first = entries.begin() + count[static_cast<size_t>(i)], last = entries.begin() + count[static_cast<size_t>(i) + 1];
            std::sort(first, last);
            auto out = first;
            for (auto it = first; it != last;) {
                auto jt = it;
                float sum = 0;
                while (jt != last && jt->first == it->first)
                    sum += (jt++)->second;
                *out++ = {it->first, sum};
                it = jt;
            }
            kept[static_cast<size_t>(i)] = out - first;
        }
    });
    SparseP p;
    p.rowStart.push_back(0);
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t e = 0; e < kept[static_cast<size_t>(i)]; ++e) {
            const auto& en = entries[static_cast<size_t>(count[static_cast<size_t>(i)] + e)];
            p.col.push_back(en.first);
            p.val.push_back(en.second);
            total += en.second;
        }
        p.rowStart.push_back(static_cast<int64_t>(p.col.size()));
    }
    for (auto& v : p.val)
        v = static_cast<float>(v / total);
    return p;
}

/// Repulsion by FFT-accelerated interpolation: fills rep (N x 2, unnormalized) and returns Z.
/// One iteration's place in scikit-learn's schedule: early exaggeration with momentum 0.5, then
/// momentum 0.8; the optimizer state restarts between the phases.
struct TsneStep {
    bool restart = false;
    double exaggeration = 1;
    double momentum = 0.8;
    bool report = false; ///< a progress callback is due (and the KL divergence with it)
    bool wantKl = false;
};

TsneStep tsneStep(const TsneConfig& cfg, int it, bool hasProgress)
{
    TsneStep s;
    const bool early = it < cfg.earlyExaggerationIterations;
    s.restart = it == cfg.earlyExaggerationIterations;
    s.exaggeration = early ? cfg.earlyExaggeration : 1.0;
    s.momentum = early ? 0.5 : 0.8;
    s.report = hasProgress && ((it + 1) % cfg.progressEvery == 0 || it + 1 == cfg.iterations);
    s.wantKl = s.report || it + 1 == cfg.iterations;
    return s;
}

void reportProgress(const std::function<void(const TsneProgress&)>& progress, const TsneConfig& cfg, int it, double kl,
                    const float* layout, int64_t points)
{
    TsneProgress pr;
    pr.iteration = it + 1;
    pr.iterations = cfg.iterations;
    pr.kl = kl;
    pr.layout = layout;
    pr.points = points;
    progress(pr);
}

/// Exact k nearest neighbours by matrix products and top-k on the tensor's device (the GPU path):
/// blocks of rows small enough for a 256 MB distance block. Index and squared distances on the CPU.
at::Tensor deviceNeighbours(const at::Tensor& x, int k, at::Tensor& distances)
{
    const int64_t n = x.size(0);
    const auto sq = (x * x).sum(1);
    const int64_t block = std::max<int64_t>(1, (int64_t(1) << 26) / n);
    std::vector<at::Tensor> indices, dists;
    for (int64_t start = 0; start < n; start += block) {
        const int64_t end = std::min(n, start + block);
        auto d2 = at::addmm(sq.unsqueeze(0), x.slice(0, start, end), x.t(), 1.0, -2.0);
        d2.add_(sq.slice(0, start, end).unsqueeze(1));
        d2.diagonal(start).fill_(std::numeric_limits<float>::infinity()); // not its own neighbour
        auto [values, index] = at::topk(d2, k, 1, /*largest=*/false, /*sorted=*/true);
        dists.push_back(values.clamp_min(0).to(at::kCPU));
        indices.push_back(index.to(at::kCPU));
    }
    distances = at::cat(dists).contiguous();
    return at::cat(indices).contiguous();
}

/// The kernel 1 / (1 + d^2)^2 on the differences of `nodes` grid nodes spaced `h` apart,
/// embedded circulantly in a size x size grid (size = 2 nodes) for FFT convolution.
at::Tensor repulsionKernel(int size, int nodes, double h)
{
    auto kernel = at::zeros({size, size}, at::kFloat);
    float* k = kernel.data_ptr<float>();
    for (int a = 0; a < size; ++a) {
        if (a == nodes)
            continue;
        const double da = (a < nodes ? a : a - size) * h;
        for (int b = 0; b < size; ++b) {
            if (b == nodes)
                continue;
            const double db = (b < nodes ? b : b - size) * h;
            const double q = 1.0 / (1.0 + da * da + db * db);
            k[a * size + b] = static_cast<float>(q * q);
        }
    }
    return kernel;
}

/// Box counts whose 6 x count has only small prime factors, for fast FFTs.
int niceBoxCount(int boxes)
{
    static const int nice[] = {8, 9, 10, 12, 15, 16, 18, 20, 24, 25, 27, 30, 32, 36, 40, 45, 48, 50, 54, 60, 64, 72, 75, 80, 90, 96, 100, 108, 120, 125, 128,
                               135, 144, 150, 160, 180, 192, 200, 216, 225, 240, 250, 256, 270, 288, 300};
    for (int v : nice)
        if (v >= boxes)
            return v;
    return boxes;
}

class FftRepulsion {
public:
    FftRepulsion(int minBoxes, double boxesPerUnit) : m_minBoxes(minBoxes), m_boxesPerUnit(boxesPerUnit) {}

    double compute(const std::vector<float>& y, std::vector<double>& rep)
    {
        const int64_t n = static_cast<int64_t>(y.size() / 2);
        float lo = std::numeric_limits<float>::max(), hi = -lo;
        for (float v : y) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
        if (!std::isfinite(lo) || !std::isfinite(hi))
            throw UserError("t-SNE diverged (the map reached infinite coordinates); try a lower learning rate");
        const double span = std::max(1e-6, double(hi - lo)) * 1.0001;
        // At least minBoxes boxes across the map, and boxes no wider than 1 / boxesPerUnit: once the
        // map is large the width is fixed, and the kernel's FFT is reused until the box count changes.
        const double boxW = std::min(span / m_minBoxes, 1.0 / m_boxesPerUnit);
        const int boxes = niceBoxCount(static_cast<int>(std::ceil(span / boxW)));
        constexpr int p = 3;
        const int nodes = boxes * p, size = 2 * nodes;
        const double h = boxW / p;
        // Lagrange weights of every point in x and y.
        std::vector<int32_t> boxX(static_cast<size_t>(n)), boxY(static_cast<size_t>(n));
        std::vector<double> wx(static_cast<size_t>(n) * p), wy(static_cast<size_t>(n) * p);
        const double t[p] = {0.5 / p, 1.5 / p, 2.5 / p};
        auto weights = [&](double u, double* w) {
            for (int a = 0; a < p; ++a) {
                double v = 1;
                for (int b = 0; b < p; ++b)
                    if (b != a)
                        v *= (u - t[b]) / (t[a] - t[b]);
                w[a] = v;
            }
        };
        at::parallel_for(0, n, 1024, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) {
                const double fx = (y[static_cast<size_t>(2 * i)] - lo) / boxW, fy = (y[static_cast<size_t>(2 * i + 1)] - lo) / boxW;
                const int bx = std::min(boxes - 1, static_cast<int>(fx)), by = std::min(boxes - 1, static_cast<int>(fy));
                boxX[static_cast<size_t>(i)] = bx;
                boxY[static_cast<size_t>(i)] = by;
                weights(fx - bx, &wx[static_cast<size_t>(i) * p]);
                weights(fy - by, &wy[static_cast<size_t>(i) * p]);
            }
        });
        // The kernel 1 / (1 + d^2)^2 on the node differences, embedded circulantly.
        if (size != m_size || h != m_h) {
            m_kernelHat = at::fft_rfft2(repulsionKernel(size, nodes, h));
            m_size = size;
            m_h = h;
            // Buffers are kept between iterations: reallocating megabytes every iteration costs page faults.
            m_grid = at::zeros({4, size, size}, at::kFloat);
            m_gridHat = at::empty({4, size, size / 2 + 1}, at::kComplexFloat);
            m_potential = at::empty({4, size, size}, at::kFloat);
        }
        // Spread the charges 1, x, y, x^2 + y^2 onto the grid nodes and convolve them with the
        // kernel by FFT: two charges per thread, as LibTorch's FFT runs one transform on one core.
        const int64_t plane = int64_t(size) * size;
        at::parallel_for(0, 2, 1, [&](int64_t first, int64_t last) {
            for (int64_t half = first; half < last; ++half) {
                const int c0 = static_cast<int>(2 * half);
                at::Tensor planes = m_grid.narrow(0, c0, 2);
                planes.zero_();
                float* g = planes.data_ptr<float>();
                for (int64_t i = 0; i < n; ++i) {
                    const double x = y[static_cast<size_t>(2 * i)], yy = y[static_cast<size_t>(2 * i + 1)];
                    const double q[4] = {1, x, yy, x * x + yy * yy};
                    for (int a = 0; a < p; ++a)
                        for (int b = 0; b < p; ++b) {
                            const double w = wy[static_cast<size_t>(i) * p + a] * wx[static_cast<size_t>(i) * p + b];
                            const int64_t node = int64_t(boxY[static_cast<size_t>(i)] * p + a) * size + boxX[static_cast<size_t>(i)] * p + b;
                            g[node] += static_cast<float>(w * q[c0]);
                            g[plane + node] += static_cast<float>(w * q[c0 + 1]);
                        }
                }
                at::Tensor hat = m_gridHat.narrow(0, c0, 2);
                at::fft_rfft2_out(hat, planes);
                hat.mul_(m_kernelHat);
                at::Tensor potential = m_potential.narrow(0, c0, 2);
                at::fft_irfft2_out(potential, hat, at::IntArrayRef{size, size});
            }
        });
        const auto potential = m_potential.is_contiguous() ? m_potential : m_potential.contiguous();
        const float* pot = potential.data_ptr<float>();
        // Interpolate the potentials back to the points.
        rep.assign(static_cast<size_t>(n) * 2, 0);
        std::vector<double> zParts(static_cast<size_t>(at::get_num_threads()) + 1, 0);
        std::vector<double> zPoint(static_cast<size_t>(n));
        at::parallel_for(0, n, 1024, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) {
                double phi[4] = {0, 0, 0, 0};
                for (int a = 0; a < p; ++a)
                    for (int b = 0; b < p; ++b) {
                        const double w = wy[static_cast<size_t>(i) * p + a] * wx[static_cast<size_t>(i) * p + b];
                        const int64_t node = int64_t(boxY[static_cast<size_t>(i)] * p + a) * size + boxX[static_cast<size_t>(i)] * p + b;
                        for (int c = 0; c < 4; ++c)
                            phi[c] += w * pot[c * plane + node];
                    }
                const double x = y[static_cast<size_t>(2 * i)], yy = y[static_cast<size_t>(2 * i + 1)];
                zPoint[static_cast<size_t>(i)] = (1 + x * x + yy * yy) * phi[0] - 2 * (x * phi[1] + yy * phi[2]) + phi[3];
                rep[static_cast<size_t>(2 * i)] = x * phi[0] - phi[1];
                rep[static_cast<size_t>(2 * i + 1)] = yy * phi[0] - phi[2];
            }
        });
        double z = 0;
        for (double v : zPoint)
            z += v;
        return z - double(n);
    }

private:
    int m_minBoxes;
    double m_boxesPerUnit;
    int m_size = 0;
    double m_h = 0;
    at::Tensor m_kernelHat, m_grid, m_gridHat, m_potential;
};

/// The optimization as tensor operations (gathers, index_add_, FFTs), the same on the CPU and on
/// CUDA: what `useCuda` runs on the GPU. Single precision throughout. Same schedule, gains and
/// FFT grid as the CPU loops; on CUDA the index_add_ sums use atomics, so maps are not bit-for-bit
/// reproducible there.
void optimizeWithTensors(const SparseP& P, std::vector<float>& yInit, double lr, const TsneConfig& cfg, bool exact,
                         const at::Device& device, TsneResult& result, const std::function<void(const TsneProgress&)>& progress,
                         const CancelToken* cancel)
{
    const int64_t n = static_cast<int64_t>(yInit.size() / 2);
    const auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);
    const auto i64 = at::TensorOptions().dtype(at::kLong).device(device);
    // The affinities as COO edges.
    std::vector<int64_t> rowsHost(P.col.size());
    for (int64_t i = 0; i < n; ++i)
        for (int64_t e = P.rowStart[static_cast<size_t>(i)]; e < P.rowStart[static_cast<size_t>(i) + 1]; ++e)
            rowsHost[static_cast<size_t>(e)] = i;
    const at::Tensor rows = at::from_blob(rowsHost.data(), {static_cast<int64_t>(rowsHost.size())}, at::kLong).to(i64);
    const at::Tensor cols = at::from_blob(const_cast<int32_t*>(P.col.data()), {static_cast<int64_t>(P.col.size())}, at::kInt).to(i64);
    const at::Tensor vals = at::from_blob(const_cast<float*>(P.val.data()), {static_cast<int64_t>(P.val.size())}, at::kFloat).to(f32);
    at::Tensor Y = at::from_blob(yInit.data(), {n, 2}, at::kFloat).to(f32).clone();
    at::Tensor update = at::zeros({n, 2}, f32), gains = at::ones({n, 2}, f32);
    at::Tensor kernelHat;
    int kernelSize = 0;
    double kernelH = 0;
    double lastKl = 0;
    std::vector<float> hostLayout;

    for (int it = 0; it < cfg.iterations; ++it) {
        if (cancel && cancel->stopRequested()) {
            result.cancelled = true;
            break;
        }
        const TsneStep phase = tsneStep(cfg, it, bool(progress));
        if (phase.restart) {
            update.zero_();
            gains.fill_(1);
        }
        const double exaggeration = phase.exaggeration, momentum = phase.momentum;
        const bool report = phase.report, wantKl = phase.wantKl;

        // Attraction over the affinities.
        const at::Tensor diff = Y.index_select(0, rows) - Y.index_select(0, cols);
        const at::Tensor qEdge = 1.0 / (1.0 + diff.pow(2).sum(1));
        const at::Tensor attraction = at::zeros({n, 2}, f32).index_add_(0, rows, diff * (vals * qEdge).unsqueeze(1));

        // Repulsion and Z.
        at::Tensor repulsion;
        double z = 0;
        if (exact) {
            const at::Tensor d = Y.unsqueeze(1) - Y.unsqueeze(0); // n x n x 2
            at::Tensor q = 1.0 / (1.0 + d.pow(2).sum(2));
            q.fill_diagonal_(0);
            z = q.sum().item<double>();
            repulsion = (q.pow(2).unsqueeze(2) * d).sum(1);
        } else {
            const double lo = Y.min().item<double>(), hi = Y.max().item<double>();
            if (!std::isfinite(lo) || !std::isfinite(hi))
                throw UserError("t-SNE diverged (the map reached infinite coordinates); try a lower learning rate");
            const double span = std::max(1e-6, hi - lo) * 1.0001;
            const double boxW = std::min(span / cfg.minBoxes, 1.0 / cfg.boxesPerUnit);
            const int boxes = niceBoxCount(static_cast<int>(std::ceil(span / boxW)));
            constexpr int p = 3;
            const int nodes = boxes * p, size = 2 * nodes;
            const double h = boxW / p;
            if (size != kernelSize || h != kernelH) {
                kernelHat = at::fft_rfft2(repulsionKernel(size, nodes, h).to(f32));
                kernelSize = size;
                kernelH = h;
            }
            const at::Tensor f = (Y - lo) / boxW;
            const at::Tensor box = f.floor().clamp(0, boxes - 1);
            const at::Tensor u = f - box; // n x 2, position inside the box
            // Lagrange weights at nodes t = 1/6, 1/2, 5/6: n x 2 x 3.
            std::vector<at::Tensor> w;
            const double t[p] = {0.5 / p, 1.5 / p, 2.5 / p};
            for (int a = 0; a < p; ++a) {
                at::Tensor v = at::ones_like(u);
                for (int b = 0; b < p; ++b)
                    if (b != a)
                        v = v * (u - t[b]) / (t[a] - t[b]);
                w.push_back(v);
            }
            const at::Tensor weights = at::stack(w, 2);
            const at::Tensor wx = weights.select(1, 0), wy = weights.select(1, 1);  // n x 3
            const at::Tensor W = (wy.unsqueeze(2) * wx.unsqueeze(1)).reshape({n, p * p}); // rows a (y), columns b (x)
            const at::Tensor offsets = at::arange(p, i64);
            const at::Tensor nodeX = box.select(1, 0).to(at::kLong).unsqueeze(1) * p + offsets; // n x 3
            const at::Tensor nodeY = box.select(1, 1).to(at::kLong).unsqueeze(1) * p + offsets;
            const at::Tensor index = (nodeY.unsqueeze(2) * size + nodeX.unsqueeze(1)).reshape({n * p * p});
            const at::Tensor x = Y.select(1, 0), y = Y.select(1, 1);
            const at::Tensor charges = at::stack({at::ones_like(x), x, y, x * x + y * y}, 0); // 4 x n
            const at::Tensor spread = (charges.unsqueeze(2) * W.unsqueeze(0)).reshape({4, n * p * p});
            const at::Tensor grid = at::zeros({4, int64_t(size) * size}, f32).index_add_(1, index, spread);
            const at::Tensor potential =
                at::fft_irfft2(at::fft_rfft2(grid.view({4, size, size})) * kernelHat, at::IntArrayRef{size, size}).reshape({4, -1});
            const at::Tensor phi = (potential.index_select(1, index).view({4, n, p * p}) * W.unsqueeze(0)).sum(2); // 4 x n
            const at::Tensor zPoint = (1 + x * x + y * y) * phi[0] - 2 * (x * phi[1] + y * phi[2]) + phi[3];
            z = zPoint.sum().item<double>() - double(n);
            repulsion = at::stack({x * phi[0] - phi[1], y * phi[0] - phi[2]}, 1);
        }
        z = std::max(z, 1e-12);
        const at::Tensor grad = 4.0 * (exaggeration * attraction - repulsion / z);
        const at::Tensor sameSign = (update * grad) >= 0;
        gains = at::where(sameSign, (gains * 0.8).clamp_min(0.01), gains + 0.2);
        update = momentum * update - lr * gains * grad;
        Y = Y + update;
        result.iterations = it + 1;
        if (wantKl) {
            const at::Tensor qNorm = (qEdge / z).clamp_min(1e-12);
            lastKl = (vals * (vals.clamp_min(1e-12) / qNorm).log()).sum().item<double>();
        }
        if (report) {
            const at::Tensor host = Y.to(at::kCPU).contiguous();
            hostLayout.assign(host.data_ptr<float>(), host.data_ptr<float>() + 2 * n);
            reportProgress(progress, cfg, it, lastKl, hostLayout.data(), n);
        }
    }
    const at::Tensor host = Y.to(at::kCPU).contiguous();
    result.layout.assign(host.data_ptr<float>(), host.data_ptr<float>() + 2 * n);
    result.kl = lastKl;
}

} // namespace

at::Tensor nearestNeighbours(const at::Tensor& input, int k, at::Tensor* distances)
{
    torch::NoGradGuard guard;
    const auto x = input.to(at::kFloat).contiguous();
    const int64_t n = x.size(0);
    const auto sq = (x * x).sum(1);
    auto index = at::empty({n, k}, at::kLong);
    auto dist = at::empty({n, k}, at::kFloat);
    int64_t* idxOut = index.data_ptr<int64_t>();
    float* distOut = dist.data_ptr<float>();
    const int64_t block = 1024;
    for (int64_t start = 0; start < n; start += block) {
        const int64_t end = std::min(n, start + block);
        auto d2 = at::addmm(sq.unsqueeze(0), x.slice(0, start, end), x.t(), 1.0, -2.0);
        d2.add_(sq.slice(0, start, end).unsqueeze(1));
        d2 = d2.contiguous();
        const float* d = d2.data_ptr<float>();
        // Per row: partial selection of the k smallest (the point itself excluded), then sorted.
        at::parallel_for(start, end, 16, [&](int64_t begin, int64_t stop) {
            // A bounded max-heap of the k best so far: most candidates fail one comparison.
            std::vector<std::pair<float, int64_t>> heap;
            heap.reserve(static_cast<size_t>(k) + 1);
            for (int64_t i = begin; i < stop; ++i) {
                const float* r = d + (i - start) * n;
                heap.clear();
                constexpr int64_t chunk = 32;
                for (int64_t j0 = 0; j0 < n; j0 += chunk) {
                    const int64_t j1 = std::min(n, j0 + chunk);
                    if (static_cast<int>(heap.size()) == k) {
                        // Once the heap is full almost no candidate beats its worst: test a chunk
                        // at once (this loop vectorizes) and skip it when none does.
                        const float worst = heap.front().first;
                        int better = 0;
                        for (int64_t j = j0; j < j1; ++j)
                            better += r[j] < worst;
                        if (better == 0)
                            continue;
                    }
                    for (int64_t j = j0; j < j1; ++j) {
                        if (j == i)
                            continue;
                        const float v = std::max(r[j], 0.f);
                        if (static_cast<int>(heap.size()) < k) {
                            heap.emplace_back(v, j);
                            std::push_heap(heap.begin(), heap.end());
                        } else if (v < heap.front().first) {
                            std::pop_heap(heap.begin(), heap.end());
                            heap.back() = {v, j};
                            std::push_heap(heap.begin(), heap.end());
                        }
                    }
                }
                std::sort_heap(heap.begin(), heap.end());
                for (int j = 0; j < k; ++j) {
                    idxOut[i * k + j] = heap[static_cast<size_t>(j)].second;
                    distOut[i * k + j] = heap[static_cast<size_t>(j)].first;
                }
            }
        });
    }
    if (distances)
        *distances = dist;
    return index;
}

at::Tensor approximateNeighbours(const at::Tensor& input, int k, at::Tensor* distances)
{
#ifndef MEDSIAM_HAVE_HNSWLIB
    return nearestNeighbours(input, k, distances);
#else
    const auto x = input.to(at::kFloat).contiguous();
    const int64_t n = x.size(0);
    const int d = static_cast<int>(x.size(1));
    const float* data = x.data_ptr<float>();
    hnswlib::L2Space space(static_cast<size_t>(d));
    hnswlib::HierarchicalNSW<float> index(&space, static_cast<size_t>(n), 12, 64, 100);
    // Inserted in order on one thread: a parallel build is faster but gives a different graph, and
    // so a different map, on every run. Searches do not change the graph and run in parallel.
    for (int64_t i = 0; i < n; ++i)
        index.addPoint(data + i * d, static_cast<size_t>(i));
    index.setEf(static_cast<size_t>(std::max(2 * k, 100)));
    auto idx = at::empty({n, k}, at::kLong);
    auto dist = at::empty({n, k}, at::kFloat);
    int64_t* io = idx.data_ptr<int64_t>();
    float* dout = dist.data_ptr<float>();
    at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            auto found = index.searchKnn(data + i * d, static_cast<size_t>(k) + 1);
            std::vector<std::pair<float, int64_t>> best;
            while (!found.empty()) {
                if (static_cast<int64_t>(found.top().second) != i)
                    best.emplace_back(found.top().first, static_cast<int64_t>(found.top().second));
                found.pop();
            }
            std::sort(best.begin(), best.end());
            best.resize(std::min<size_t>(best.size(), static_cast<size_t>(k)));
            for (int j = 0; j < k; ++j) {
                const auto& b = best[std::min(static_cast<size_t>(j), best.size() - 1)];
                io[i * k + j] = b.second;
                dout[i * k + j] = b.first; // hnswlib's L2 space gives squared distances
            }
        }
    });
    if (distances)
        *distances = dist;
    return idx;
#endif
}

std::vector<float> pcaMap(const at::Tensor& input)
{
    torch::NoGradGuard guard;
    const auto x = input.to(at::kDouble);
    const auto centered = x - x.mean(0, true);
    std::vector<float> out(static_cast<size_t>(x.size(0)) * 2, 0.f);
    if (x.size(1) == 1) {
        for (int64_t i = 0; i < x.size(0); ++i)
            out[static_cast<size_t>(2 * i)] = static_cast<float>(centered[i][0].item<double>());
        return out;
    }
    const auto cov = at::matmul(centered.t(), centered) / std::max<int64_t>(1, x.size(0) - 1);
    const auto eig = at::linalg_eigh(cov);
    const auto vectors = std::get<1>(eig); // ascending eigenvalues
    const int64_t d = vectors.size(1);
    auto basis = at::stack({vectors.select(1, d - 1), vectors.select(1, d - 2)}, 1);
    // A deterministic sign: the largest-magnitude loading of each component is positive.
    for (int c = 0; c < 2; ++c) {
        auto col = basis.select(1, c);
        const auto idx = col.abs().argmax().item<int64_t>();
        if (col[idx].item<double>() < 0)
            col.neg_();
    }
    const auto proj = at::matmul(centered, basis).to(at::kFloat).contiguous();
    std::copy(proj.data_ptr<float>(), proj.data_ptr<float>() + proj.numel(), out.begin());
    return out;
}

TsneResult runTsne(const at::Tensor& input, const TsneConfig& cfg, const std::function<void(const TsneProgress&)>& progress,
                   const CancelToken* cancel)
{
    const auto t0 = std::chrono::steady_clock::now();
    torch::NoGradGuard guard;
    const auto x = input.to(at::kFloat).contiguous();
    const int64_t n = x.size(0);
    if (n < 4)
        throw UserError("t-SNE needs at least 4 points, got " + std::to_string(n));
    if (cfg.perplexity <= 0 || 3 * cfg.perplexity >= double(n))
        throw UserError("t-SNE perplexity " + std::to_string(cfg.perplexity) + " is too large for " + std::to_string(n) +
                        " points (it must be under N / 3)");
    if (cfg.useCuda && !at::hasCUDA())
        throw UserError("t-SNE on the GPU: no CUDA device is available to this LibTorch");
    TsneResult result;
    result.exact = n <= cfg.exactMaxPoints && !cfg.forceApproximate;

    // Affinities.
    SparseP P;
    {
        const int k = result.exact ? static_cast<int>(n - 1)
                                   : static_cast<int>(std::min<int64_t>(n - 1, static_cast<int64_t>(3 * cfg.perplexity + 1)));
        at::Tensor d2;
        const auto nbr = (cfg.useCuda || cfg.tensorOps)
                             ? deviceNeighbours(cfg.useCuda ? x.to(at::kCUDA) : x, k, d2)
                             : (n > cfg.exactNeighboursMaxPoints && !result.exact ? approximateNeighbours(x, k, &d2)
                                                                                  : nearestNeighbours(x, k, &d2))
                                   .contiguous();
        d2 = d2.contiguous();
        std::vector<float> cond(static_cast<size_t>(n) * k);
        const float* dd = d2.data_ptr<float>();
        at::parallel_for(0, n, 64, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i)
                conditionalRow(dd + i * k, k, cfg.perplexity, &cond[static_cast<size_t>(i * k)]);
        });
        P = symmetrize(n, k, nbr.data_ptr<int64_t>(), cond.data());
    }

    // Initialization: PCA scaled to std 1e-4 on the first axis (as scikit-learn).
    std::vector<float> y = pcaMap(x);
    {
        double mean = 0, var = 0;
        for (int64_t i = 0; i < n; ++i)
            mean += y[static_cast<size_t>(2 * i)];
        mean /= double(n);
        for (int64_t i = 0; i < n; ++i)
            var += std::pow(y[static_cast<size_t>(2 * i)] - mean, 2);
        const double sd = std::sqrt(var / double(n));
        if (sd > 0) {
            for (auto& v : y)
                v = static_cast<float>(v / sd * 1e-4);
        } else {
            std::mt19937_64 rng(cfg.seed);
            std::normal_distribution<float> normal(0.f, 1e-4f);
            for (auto& v : y)
                v = normal(rng);
        }
    }

    const double lr = cfg.learningRate > 0 ? cfg.learningRate : std::max(double(n) / cfg.earlyExaggeration / 4.0, 50.0);
    if (cfg.useCuda || cfg.tensorOps) {
        const at::Device device = cfg.useCuda ? at::Device(at::kCUDA) : at::Device(at::kCPU);
        optimizeWithTensors(P, y, lr, cfg, result.exact, device, result, progress, cancel);
        result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return result;
    }
    std::vector<double> update(static_cast<size_t>(2 * n), 0), gains(static_cast<size_t>(2 * n), 1), grad(static_cast<size_t>(2 * n));
    std::vector<double> rep;
    std::vector<float> xs(static_cast<size_t>(n)), ys(static_cast<size_t>(n)); // the map, one array per axis
    FftRepulsion fft(cfg.minBoxes, cfg.boxesPerUnit);
    double lastKl = 0;

    for (int it = 0; it < cfg.iterations; ++it) {
        if (cancel && cancel->stopRequested()) {
            result.cancelled = true;
            break;
        }
        const TsneStep phase = tsneStep(cfg, it, bool(progress));
        if (phase.restart) { // a new phase: scikit-learn restarts its optimizer state
            std::fill(update.begin(), update.end(), 0);
            std::fill(gains.begin(), gains.end(), 1);
        }
        const double exaggeration = phase.exaggeration, momentum = phase.momentum;
        const bool report = phase.report, wantKl = phase.wantKl;

        // Repulsion and the normalization Z.
        double z = 0;
        if (result.exact) {
            rep.assign(static_cast<size_t>(2 * n), 0);
            std::vector<double> zPoint(static_cast<size_t>(n), 0);
            at::parallel_for(0, n, 64, [&](int64_t begin, int64_t end) {
                for (int64_t i = begin; i < end; ++i) {
                    double rx = 0, ry = 0, zi = 0;
                    const double xi = y[static_cast<size_t>(2 * i)], yi = y[static_cast<size_t>(2 * i + 1)];
                    for (int64_t j = 0; j < n; ++j) {
                        if (j == i)
                            continue;
                        const double dx = xi - y[static_cast<size_t>(2 * j)], dy = yi - y[static_cast<size_t>(2 * j + 1)];
                        const double q = 1.0 / (1.0 + dx * dx + dy * dy);
                        zi += q;
                        rx += q * q * dx;
                        ry += q * q * dy;
                    }
                    rep[static_cast<size_t>(2 * i)] = rx;
                    rep[static_cast<size_t>(2 * i + 1)] = ry;
                    zPoint[static_cast<size_t>(i)] = zi;
                }
            });
            for (double v : zPoint)
                z += v;
        } else {
            z = fft.compute(y, rep);
        }
        z = std::max(z, 1e-12);
        // Attraction over the sparse affinities, the gradient, and (when asked) the KL divergence.
        for (int64_t i = 0; i < n; ++i) {
            xs[static_cast<size_t>(i)] = y[static_cast<size_t>(2 * i)];
            ys[static_cast<size_t>(i)] = y[static_cast<size_t>(2 * i + 1)];
        }
        std::vector<double> klPoint(wantKl ? static_cast<size_t>(n) : 0, 0);
        at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) {
                double kl = 0;
                const float xi = y[static_cast<size_t>(2 * i)], yi = y[static_cast<size_t>(2 * i + 1)];
                const float* yy = y.data();
                const int32_t* cols = P.col.data();
                const float* vals = P.val.data();
                const int64_t rowEnd = P.rowStart[static_cast<size_t>(i) + 1];
                float ax = 0, ay = 0;
                attraction(xi, yi, xs.data(), ys.data(), cols + P.rowStart[static_cast<size_t>(i)], vals + P.rowStart[static_cast<size_t>(i)],
                           rowEnd - P.rowStart[static_cast<size_t>(i)], ax, ay);
                if (wantKl)
                    for (int64_t e = P.rowStart[static_cast<size_t>(i)]; e < rowEnd; ++e) {
                        const int32_t j = cols[e];
                        const double pij = vals[e];
                        const double dx = xi - yy[2 * j], dy = yi - yy[2 * j + 1];
                        const double q = 1.0 / (1.0 + dx * dx + dy * dy);
                        if (pij > 0)
                            kl += pij * std::log(std::max(pij, 1e-12) / std::max(q / z, 1e-12));
                    }
                grad[static_cast<size_t>(2 * i)] = 4.0 * (exaggeration * ax - rep[static_cast<size_t>(2 * i)] / z);
                grad[static_cast<size_t>(2 * i + 1)] = 4.0 * (exaggeration * ay - rep[static_cast<size_t>(2 * i + 1)] / z);
                if (wantKl)
                    klPoint[static_cast<size_t>(i)] = kl;
            }
        });
        // Gradient descent with momentum and gains (scikit-learn's, from Jacobs 1988).
        for (size_t d = 0; d < grad.size(); ++d) {
            const bool sameSign = (update[d] * grad[d]) >= 0.0;
            gains[d] = sameSign ? std::max(gains[d] * 0.8, 0.01) : gains[d] + 0.2;
            update[d] = momentum * update[d] - lr * gains[d] * grad[d];
            y[d] = static_cast<float>(y[d] + update[d]);
        }
        result.iterations = it + 1;
        if (wantKl) {
            lastKl = 0;
            for (double v : klPoint)
                lastKl += v;
        }
        if (report) {
            reportProgress(progress, cfg, it, lastKl, y.data(), n);
        }
    }
    result.layout = std::move(y);
    result.kl = lastKl;
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return result;
}

} // namespace medsiam::core
