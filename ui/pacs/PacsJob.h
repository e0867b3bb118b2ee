#pragma once
// The desktop app's PACS work on a worker thread: a C-ECHO, a search (studies, then the series of
// each), or a retrieve into the project (core::retrieveIntoProject). Cancel ends any network wait
// at once (PacsClient::cancel).
#include "jobs/BackgroundJob.h"
#include "pacs/PacsImport.h"

#include <QString>

#include <memory>
#include <mutex>
#include <vector>

namespace medsiam::ui {

class PacsJob : public BackgroundJob {
    Q_OBJECT
public:
    enum class Kind { Echo, Search, Retrieve };

    /// What a PacsJob talks to, and how.
    struct Connection {
        core::PacsNode node;
        std::string ourAeTitle = core::kDefaultOurAeTitle;
        core::PacsTimeouts timeouts;
    };

    /// A study found, with its series (those that match the query's modality).
    struct Study {
        core::PacsRecord study;
        std::vector<core::PacsRecord> series;
    };

    /// The most studies a search lists; a search that finds more says so.
    static constexpr size_t kStudyLimit = 500;

    static std::unique_ptr<PacsJob> echo(Connection c);
    /// `query` at study level; the series of each study found are listed after it.
    static std::unique_ptr<PacsJob> search(Connection c, core::PacsQuery query);
    static std::unique_ptr<PacsJob> retrieve(Connection c, QString projectDir, std::vector<core::SeriesRef> series,
                                             core::RetrieveOptions options, core::ImportOptions importOptions);
    ~PacsJob() override; // cancels and waits

    Kind kind() const { return m_kind; }
    /// Once finished: the echo's round trip in seconds.
    double echoSeconds() const { return m_echoSeconds; }
    /// Once finished: the studies found, and whether there were more than kStudyLimit.
    const std::vector<Study>& studies() const { return m_studies; }
    bool truncated() const { return m_truncated; }
    /// Once finished: what the retrieve and the import did.
    const core::PacsImportResult& result() const { return m_result; }
    const Connection& connection() const { return m_connection; }

Q_SIGNALS:
    /// A series has been retrieved and imported (on the GUI thread): the browser may show it.
    void seriesImported();

protected:
    Outcome run() override;
    void onCancel() override;

private:
    PacsJob(Kind kind, Connection c);
    Outcome runSearch(core::PacsClient& client);
    Outcome runRetrieve(core::PacsClient& client);

    Kind m_kind;
    Connection m_connection;
    core::PacsQuery m_query;
    QString m_projectDir;
    std::vector<core::SeriesRef> m_series;
    core::RetrieveOptions m_options;
    core::ImportOptions m_importOptions;
    std::mutex m_clientMutex;
    core::PacsClient* m_client = nullptr; ///< while run() talks to the node
    // Results: written by run(), read after finished().
    double m_echoSeconds = 0;
    std::vector<Study> m_studies;
    bool m_truncated = false;
    core::PacsImportResult m_result;
};

} // namespace medsiam::ui
