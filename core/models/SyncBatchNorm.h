#pragma once
// Synchronised BatchNorm for data-parallel training: in training, each BatchNorm layer normalizes
// with the statistics of the whole group's batch (every rank's share), forward and backward, so
// that ranks train the weights one process would with the whole batch. Part of medsiam_ml.
#include <ATen/core/Tensor.h>

#include <vector>

namespace medsiam::core {

/// Sums tensors over the processes of a group, in place: every rank calls it in the same order
/// with tensors of the same shapes. Throws (naming the rank gone) when a rank stops answering.
class BatchStatsSum {
public:
    virtual ~BatchStatsSum() = default;
    virtual void sum(std::vector<at::Tensor>& tensors) const = 0;
};

/// BatchNorm in training mode over [N, C, ...] with the group's batch statistics: the mean and
/// (biased) variance of every rank's share together, and PyTorch's running-statistics update
/// (unbiased variance, `momentum`). Its gradient is that of BatchNorm over the whole batch:
/// the backward pass sums the gradient's statistics over the ranks too. `weight` and `bias` may
/// be undefined (no affine). One collective forward, one backward, per call.
at::Tensor syncBatchNorm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, const at::Tensor& runningMean,
                         const at::Tensor& runningVar, double momentum, double eps, const BatchStatsSum& group);

} // namespace medsiam::core
