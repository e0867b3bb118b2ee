#include "models/SyncBatchNorm.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <cstdint>

namespace medsiam::core {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::vector<int64_t> reducedDims(const at::Tensor& x)
{
    std::vector<int64_t> dims{0};
    for (int64_t d = 2; d < x.dim(); ++d)
        dims.push_back(d);
    return dims;
}

/// [C] -> [1, C, 1, ...] for broadcasting over x.
at::Tensor perChannel(const at::Tensor& v, const at::Tensor& x)
{
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape[1] = v.size(0);
    return v.view(shape);
}

class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
public:
    static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                              at::Tensor runningMean, at::Tensor runningVar, double momentum, double eps, const BatchStatsSum* group)
    {
        const auto dims = reducedDims(x);
        const int64_t channels = x.size(1);
        const double local = double(x.numel() / channels);
        // In float32 whatever x is (bf16 under autocast): each rank's mean and variance, merged in
        // double precision: sum n_r mean_r, sum n_r var_r, sum n_r mean_r^2 and the count, in one
        // all-reduce.
        const auto xf = x.to(at::kFloat);
        const auto [var, mean] = at::var_mean(xf, dims, /*unbiased=*/false);
        const auto meanD = mean.to(at::kDouble), varD = var.to(at::kDouble);
        at::Tensor packed = at::cat({meanD * local, varD * local, meanD * meanD * local, at::full({1}, local, at::kDouble)});
        std::vector<at::Tensor> list{packed};
        group->sum(list);
        packed = list[0];
        const double n = packed[3 * channels].item<double>();
        const auto globalMeanD = packed.narrow(0, 0, channels) / n;
        const auto globalVarD =
            ((packed.narrow(0, channels, channels) + packed.narrow(0, 2 * channels, channels)) / n - globalMeanD * globalMeanD).clamp_min(0);
        const auto globalMean = globalMeanD.to(at::kFloat), globalVar = globalVarD.to(at::kFloat);
        if (runningMean.defined()) {
            at::NoGradGuard guard;
            runningMean.mul_(1 - momentum).add_(globalMean.to(runningMean.scalar_type()), momentum);
            runningVar.mul_(1 - momentum).add_((globalVarD * (n / std::max(1.0, n - 1))).to(runningVar.scalar_type()), momentum);
        }
        const auto invstd = (globalVar + eps).rsqrt();
        const auto y = (xf - perChannel(globalMean, xf)) * perChannel(invstd * weight.to(at::kFloat), xf) + perChannel(bias.to(at::kFloat), xf);
        ctx->save_for_backward({x, weight, globalMean, invstd});
        ctx->saved_data["count"] = n;
        ctx->saved_data["group"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(group));
        return y.to(x.scalar_type());
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads)
    {
        const auto saved = ctx->get_saved_variables();
        const at::Tensor& x = saved[0];
        const at::Tensor& weight = saved[1];
        const at::Tensor& mean = saved[2];
        const at::Tensor& invstd = saved[3];
        const double n = ctx->saved_data["count"].toDouble();
        const auto* group = reinterpret_cast<const BatchStatsSum*>(static_cast<intptr_t>(ctx->saved_data["group"].toInt()));
        // In float32 (the input and its gradient may be bf16 under autocast); the input's gradient
        // goes back in the input's type, the affine parameters' in theirs.
        const at::Tensor gy = grads[0].contiguous().to(at::kFloat);
        const auto dims = reducedDims(x);
        const auto xf = x.to(at::kFloat);
        const auto xhat = (xf - perChannel(mean, xf)) * perChannel(invstd, xf);
        const auto sumDy = gy.sum(dims), sumDyXhat = (gy * xhat).sum(dims);
        // The affine parameters' gradients are this rank's part (the gradient average over the
        // ranks sums them); the input's needs the whole batch's.
        std::vector<at::Tensor> list{at::cat({sumDy, sumDyXhat})};
        group->sum(list);
        const int64_t channels = x.size(1);
        const auto meanDy = list[0].narrow(0, 0, channels) / n, meanDyXhat = list[0].narrow(0, channels, channels) / n;
        const auto gx = (gy - perChannel(meanDy, xf) - xhat * perChannel(meanDyXhat, xf)) * perChannel(invstd * weight.to(at::kFloat), xf);
        return {gx.to(x.scalar_type()), sumDyXhat.to(weight.scalar_type()), sumDy.to(weight.scalar_type()), at::Tensor(), at::Tensor(), at::Tensor(),
                at::Tensor(), at::Tensor()};
    }
};

} // namespace

at::Tensor syncBatchNorm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, const at::Tensor& runningMean,
                         const at::Tensor& runningVar, double momentum, double eps, const BatchStatsSum& group)
{
    // Autograd functions take defined tensors: no affine is the identity one, without gradient.
    const at::Tensor w = weight.defined() ? weight : at::ones({x.size(1)}, x.options());
    const at::Tensor b = bias.defined() ? bias : at::zeros({x.size(1)}, x.options());
    return SyncBatchNormFunction::apply(x, w, b, runningMean, runningVar, momentum, eps, &group);
}

} // namespace medsiam::core
