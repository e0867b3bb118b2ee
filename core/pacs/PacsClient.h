#pragma once
// Talks DICOM to one PACS node: C-ECHO, C-FIND, and retrieval by C-GET or C-MOVE. DCMTK stays
// inside PacsClient.cpp. Every network wait has a timeout (PacsTimeouts) and cancel() ends any
// of them at once, from any thread. Failures are UserErrors in words: which node, what happened,
// what to check.
#include "pacs/Pacs.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace medsiam::core {

struct RetrieveCallbacks {
    /// After each instance that arrives (on the retrieving thread; keep it short).
    std::function<void(const RetrieveProgress&)> progress;
    /// After each series, complete or not, with its folder: the caller imports it.
    std::function<void(const SeriesRef&, const std::string& seriesFolder)> seriesFinished;
};

class PacsClient {
public:
    explicit PacsClient(PacsNode node, std::string ourAeTitle = kDefaultOurAeTitle, PacsTimeouts timeouts = {});
    ~PacsClient();
    PacsClient(const PacsClient&) = delete;
    PacsClient& operator=(const PacsClient&) = delete;

    const PacsNode& node() const;
    const std::string& ourAeTitle() const;

    /// C-ECHO; returns the round trip in seconds. Throws UserError (unreachable, rejected, timeout).
    double echo();

    /// C-FIND at the query's level (patient: Patient Root; the others: Study Root). Returns at most
    /// `limit` answers (0: all); the patient name is a matching key only and no answer holds one.
    /// Throws UserError; cancel() makes it throw one that says so.
    std::vector<PacsRecord> find(const PacsQuery& query, size_t limit = 0);

    /// Retrieves whole series into `root` (layout: pacsSeriesFolder). For each series: lists its
    /// instances (image-level C-FIND), leaves out those already on disk, then asks for the rest
    /// by C-GET, or by C-MOVE to a storage receiver this call starts on options.storagePort under
    /// ourAeTitle(). Files are written bit for bit as they travel, under a ".part" name first.
    /// Throws UserError before anything travels (node unreachable, association rejected, the
    /// receiver's port taken); later failures (the node gone mid-transfer, timeouts, instances
    /// that do not arrive) end up in the summary's problems, and what arrived is kept: retrieving
    /// again completes it. DiskFullError when the disk fills up (what arrived is kept).
    RetrieveSummary retrieve(const std::vector<SeriesRef>& series, const std::string& root, const RetrieveOptions& options = {},
                             const RetrieveCallbacks& callbacks = {});

    /// Any thread: ends the current operation soon (a blocked network read at once). A cancelled
    /// client stays cancelled; make a new one for the next operation.
    void cancel();
    bool cancelled() const;

    struct State;

private:
    std::unique_ptr<State> m_state;
};

} // namespace medsiam::core
