#pragma once
// Checks on a worker thread that a weights file fits a network (core::checkInitWeights reads
// the whole file: ~100 MB for BiT-R50x1), so that the new-run dialog stays responsive.
#include "jobs/BackgroundJob.h"
#include "models/ModelConfig.h"

#include <string>

namespace medsiam::ui {

class WeightCheckJob : public BackgroundJob {
    Q_OBJECT
public:
    /// `skipHead`: a classifier's head starts anew, so the file's head need not fit.
    WeightCheckJob(core::ModelConfig model, std::string path, bool skipHead, QObject* parent = nullptr);
    ~WeightCheckJob() override;

protected:
    Outcome run() override;

private:
    core::ModelConfig m_model;
    std::string m_path;
    bool m_skipHead;
};

} // namespace medsiam::ui
