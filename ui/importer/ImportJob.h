#pragma once
#include "jobs/BackgroundJob.h"
#include "project/Importer.h"

#include <QString>

#include <memory>
#include <vector>

namespace medsiam::ui {

/// core::importSources on a worker thread with its own connection to the project. Progress
/// reaches the GUI thread at most every 50 ms; finished() says Completed, Cancelled (what was
/// committed is kept) or Failed (with the reason, e.g. a full disk).
class ImportJob : public BackgroundJob {
    Q_OBJECT
public:
    ImportJob(QString projectDir, core::ImportOptions options, QObject* parent = nullptr);
    ~ImportJob() override; // cancels and waits

    /// Once finished: what the import did, and every file not imported with its reason (import
    /// issues and label-CSV problems).
    const core::ImportSummary& summary() const { return m_summary; }
    const std::vector<std::pair<QString, QString>>& issues() const { return m_issues; }

Q_SIGNALS:
    void scanned(qint64 files);
    void progress(qint64 done, qint64 total, qint64 items, double filesPerSecond, double etaSeconds);

protected:
    Outcome run() override;
    void onFinished(const Outcome& outcome) override;

private:
    class Observer;
    QString m_dir;
    core::ImportOptions m_options;
    std::unique_ptr<Observer> m_observer;
    core::ImportSummary m_summary;       ///< written by run(), read after finished()
    std::vector<std::pair<QString, QString>> m_issues;
};

} // namespace medsiam::ui
