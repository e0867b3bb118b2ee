#include "train/Features.h"
#include "train/Distributed.h"

#include "train/TrainConfig.h"

#include "system/TorchCompat.h"
#include "train/TrainUtil.h"
#include "util/Error.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <cmath>

namespace medsiam::core {

ImageSet::ImageSet(Project& project)
{
    const int side = project.cacheResolution();
    m_cache = project.openCache(side);
    for (const auto& c : project.classes())
        m_classNames.push_back(c.name);
    const auto all = project.trainingItems();
    m_items.resize(m_cache->size());
    size_t matched = 0;
    for (const auto& item : all) {
        const int64_t i = m_cache->indexOf(item.imageId);
        if (i >= 0) {
            m_items[static_cast<size_t>(i)] = item;
            ++matched;
        }
    }
    if (matched == 0)
        throw UserError("the project '" + project.dir() + "' has no cached images to train on; import images first");
}

std::vector<int64_t> ImageSet::indices(const std::string& split, bool labeledOnly, const std::string& subset) const
{
    std::vector<int64_t> out;
    for (size_t i = 0; i < m_items.size(); ++i)
        if (m_items[i].split == split && (!labeledOnly || m_items[i].classIndex >= 0) && inSubset(m_items[i].imageId, subset))
            out.push_back(static_cast<int64_t>(i));
    return out;
}

std::vector<int64_t> ImageSet::pretrainIndices(const std::string& subset) const
{
    std::vector<int64_t> out;
    for (size_t i = 0; i < m_items.size(); ++i)
        if (m_items[i].split != "val" && m_items[i].split != "test" && inSubset(m_items[i].imageId, subset))
            out.push_back(static_cast<int64_t>(i));
    return out;
}

at::Tensor makeBatch(const ImageCache& cache, const std::vector<int64_t>& indices, int size, int channels,
                     const AugmentConfig& augment, InputNormalization norm, uint64_t runSeed, int64_t step, int view,
                     int64_t sampleOffset)
{
    const int64_t n = static_cast<int64_t>(indices.size());
    auto batch = at::empty({n, channels, size, size}, at::kFloat);
    float* out = batch.data_ptr<float>();
    const int64_t stride = int64_t(channels) * size * size;
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
            const auto i = static_cast<size_t>(indices[static_cast<size_t>(b)]);
            augmentImage(cache.pixels(i), cache.side(), cache.entries()[i].channels, out + b * stride, size, channels, augment,
                         norm, augmentSeed(runSeed, step, sampleOffset + b, view));
        }
    });
    return batch;
}

at::Tensor extractFeatures(NetworkImpl& network, const ImageCache& cache, const std::vector<int64_t>& indices, int size,
                           InputNormalization norm, bool bf16, int batch)
{
    const bool wasTraining = network.is_training();
    network.eval();
    torch::NoGradGuard guard;
    const auto device = network.parameters().front().device();
    const int channels = network.config().backbone.inChannels;
    std::vector<at::Tensor> parts;
    for (size_t start = 0; start < indices.size(); start += static_cast<size_t>(batch)) {
        const std::vector<int64_t> chunk(indices.begin() + static_cast<std::ptrdiff_t>(start),
                                         indices.begin() + static_cast<std::ptrdiff_t>(std::min(indices.size(), start + batch)));
        auto x = makeBatch(cache, chunk, size, channels, AugmentConfig::none(), norm, 0, 0, 0).to(device);
        compat::Autocast autocast(device.is_cuda(), bf16);
        parts.push_back(network.backbone().forwardFeatures(x).to(at::kFloat).cpu());
    }
    network.train(wasTraining);
    if (parts.empty())
        return at::empty({0, network.config().backbone.featureDim()});
    return at::cat(parts);
}

at::Tensor extractFeaturesTogether(ProcessGroup* group, NetworkImpl& network, const ImageCache& cache, const std::vector<int64_t>& indices,
                                   int size, InputNormalization norm, bool bf16)
{
    if (!group || group->size() == 1)
        return extractFeatures(network, cache, indices, size, norm, bf16);
    const int64_t n = static_cast<int64_t>(indices.size());
    const int64_t first = n * group->rank() / group->size(), last = n * (group->rank() + 1) / group->size();
    const std::vector<int64_t> mine(indices.begin() + first, indices.begin() + last);
    at::Tensor all = at::zeros({n, network.config().backbone.featureDim()});
    if (last > first)
        all.narrow(0, first, last - first).copy_(extractFeatures(network, cache, mine, size, norm, bf16));
    group->allreduceSumInPlace({all}, "an exchange of features");
    return all;
}

std::vector<float> knnScores(const at::Tensor& bank, const std::vector<int>& bankLabels, const at::Tensor& queries, int numClasses,
                             int k)
{
    torch::NoGradGuard guard;
    const int64_t q = queries.size(0);
    std::vector<float> scores(static_cast<size_t>(q * numClasses), 0.f);
    if (q == 0 || bank.size(0) == 0)
        return scores;
    auto unit = [](const at::Tensor& x) { return x / x.norm(2, {1}, true).clamp_min(1e-12); };
    const auto sim = at::matmul(unit(queries), unit(bank).t());
    const int64_t kk = std::min<int64_t>(k, bank.size(0));
    const auto top = sim.topk(kk, 1);
    const auto values = std::get<0>(top).contiguous(), index = std::get<1>(top).contiguous();
    const float* v = values.data_ptr<float>();
    const int64_t* idx = index.data_ptr<int64_t>();
    for (int64_t i = 0; i < q; ++i) {
        float total = 0;
        for (int64_t j = 0; j < kk; ++j) {
            const float w = std::exp(v[i * kk + j] / 0.1f);
            scores[static_cast<size_t>(i * numClasses + bankLabels[static_cast<size_t>(idx[i * kk + j])])] += w;
            total += w;
        }
        for (int c = 0; c < numClasses; ++c)
            scores[static_cast<size_t>(i * numClasses + c)] /= total;
    }
    return scores;
}

} // namespace medsiam::core
