#pragma once
#include "project/Importer.h"

#include <QObject>
#include <QString>
#include <QStringList>

#include <memory>
#include <thread>
#include <vector>

namespace medsiam::ui {

/// Runs core::importSources on a worker thread with its own connection to the project, and
/// reports to the GUI thread through queued signals, at most every 50 ms for progress.
class ImportJob : public QObject {
    Q_OBJECT
public:
    ImportJob(QString projectDir, core::ImportOptions options, QObject* parent = nullptr);
    ~ImportJob() override; // cancels and waits

    void start();
    void cancel();
    bool running() const { return m_running; }

    /// Every file not imported, with its reason (import issues and label-CSV problems).
    const std::vector<std::pair<QString, QString>>& issues() const { return m_issues; }

Q_SIGNALS:
    void scanned(qint64 files);
    void progress(qint64 done, qint64 total, qint64 items, double filesPerSecond, double etaSeconds);
    /// The import ended (also when cancelled); `error` is empty unless it failed outright.
    void finished(const medsiam::core::ImportSummary& summary, const QString& error);

private:
    class Observer;
    QString m_dir;
    core::ImportOptions m_options;
    std::unique_ptr<core::CancelToken> m_cancel;
    std::unique_ptr<Observer> m_observer;
    std::thread m_thread;
    bool m_running = false;
    std::vector<std::pair<QString, QString>> m_issues;
};

} // namespace medsiam::ui

Q_DECLARE_METATYPE(medsiam::core::ImportSummary)
