#include "training/WeightCheckJob.h"

#include "train/TrainUtil.h"

namespace medsiam::ui {

WeightCheckJob::WeightCheckJob(core::ModelConfig model, std::string path, bool skipHead, QObject* parent)
    : BackgroundJob(parent), m_model(std::move(model)), m_path(std::move(path)), m_skipHead(skipHead)
{
}

WeightCheckJob::~WeightCheckJob() { stopAndWait(); }

BackgroundJob::Outcome WeightCheckJob::run()
{
    try {
        core::checkInitWeights(m_model, m_path, m_skipHead);
    } catch (...) {
        return {State::Failed, QString::fromStdString(core::currentErrorMessage())};
    }
    return {State::Completed, QString()};
}

} // namespace medsiam::ui
