#include "models/SyncBatchNorm.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <cstdint>

namespace medsiam::core {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// t * scale + shift per channel (scale, shift float [C]), in t's type: LibTorch's fused
/// BatchNorm kernel in evaluation mode with mean 0 and variance 1.
at::Tensor affine(const at::Tensor& t, const at::Tensor& scale, const at::Tensor& shift)
{
    const at::Tensor zeros = at::zeros_like(scale), ones = at::ones_like(scale);
    return at::batch_norm(t, scale, shift, zeros, ones, /*training=*/false, 0.0, /*eps=*/0.0, /*cudnn_enabled=*/true).to(t.scalar_type());
}

class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
public:
    static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                              at::Tensor runningMean, at::Tensor runningVar, double momentum, double eps, const BatchStatsSum* group)
    {
        const int64_t channels = x.size(1);
        const double local = double(x.numel() / channels);
        const auto f32 = x.options().dtype(at::kFloat);
        // Each rank's mean and variance from LibTorch's fused kernel, in float32 whatever x is
        // (bf16 under autocast: float parameters make it accumulate and return float32); merged
        // in double precision: sum n_r mean_r, sum n_r var_r, sum n_r mean_r^2 and the count, in
        // one all-reduce.
        const auto stats = at::native_batch_norm(x, at::ones({channels}, f32), at::zeros({channels}, f32), {}, {}, /*training=*/true, 0.0,
                                                 /*eps=*/0.0);
        const auto meanD = std::get<1>(stats).to(at::kDouble);
        const auto varD = std::get<2>(stats).to(at::kDouble).pow(-2); // 1 / invstd^2; a constant channel's inf gives 0
        at::Tensor packed = at::cat({meanD * local, varD * local, meanD * meanD * local, at::full({1}, local, meanD.options())});
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
        // Normalized with the group's statistics: the fused kernel in evaluation mode.
        const auto y = at::batch_norm(x, weight.to(at::kFloat), bias.to(at::kFloat), globalMean, globalVar, /*training=*/false, 0.0, eps,
                                      /*cudnn_enabled=*/true);
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
        const at::Tensor& mean = saved[2];   // float32
        const at::Tensor& invstd = saved[3]; // float32
        const double n = ctx->saved_data["count"].toDouble();
        const auto* group = reinterpret_cast<const BatchStatsSum*>(static_cast<intptr_t>(ctx->saved_data["group"].toInt()));
        const at::Tensor gy = grads[0].contiguous();
        const at::Tensor w = weight.to(at::kFloat);
        // This rank's sum dy and sum dy * xhat (xhat from the group's statistics): the affine
        // parameters' gradients, from the fused backward kernel (float32 sums for bf16 too).
        const auto parts = at::native_batch_norm_backward(gy, x, w, {}, {}, mean, invstd, /*train=*/true, 0.0, {false, true, true});
        const at::Tensor sumDyXhat = std::get<1>(parts), sumDy = std::get<2>(parts);
        // They are this rank's part (the gradient average over the ranks sums them); the
        // input's gradient needs the whole batch's.
        std::vector<at::Tensor> list{at::cat({sumDy, sumDyXhat})};
        group->sum(list);
        const at::Tensor& total = list[0];
        const int64_t channels = x.size(1);
        const auto meanDy = total.narrow(0, 0, channels) / n, meanDyXhat = total.narrow(0, channels, channels) / n;
        // gx = invstd w (dy - mean dy - xhat mean(dy xhat)) = a dy + b x + c per channel, as two
        // fused passes in x's type.
        const auto a = invstd * w;
        const auto b = -a * invstd * meanDyXhat;
        const auto c = -a * meanDy - b * mean;
        const auto gx = affine(gy, a, at::zeros_like(a)) + affine(x, b, c);
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
