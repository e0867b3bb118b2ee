#pragma once
// medsiam's own storage SCP: receives C-STORE requests (the PACS sending what a C-MOVE asked for,
// or a modality pushing images) and writes each file bit for bit as it travelled into the
// retrieve layout (pacsSeriesFolder), under a ".part" name until it is complete. Also answers
// C-ECHO. Runs on a thread of its own between start() and stop().
#include "pacs/Pacs.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace medsiam::core {

struct ReceivedInstance {
    std::string studyUid;
    std::string seriesUid;
    std::string sopUid;
    std::string path;      ///< where the file now is
    std::string callingAe; ///< who sent it
    uint64_t bytes = 0;
};

class StorageReceiver {
public:
    struct Options {
        std::string aeTitle = kDefaultOurAeTitle; ///< calls to any other title are rejected
        int port = kDefaultStoragePort;
        std::string root;      ///< where files go (pacsSeriesFolder layout)
        int dimseSeconds = 60; ///< a sender silent this long mid-transfer is dropped
    };
    /// Both callbacks run on the receiver's thread; keep them short.
    explicit StorageReceiver(Options options, std::function<void(const ReceivedInstance&)> onReceived = {},
                             std::function<void(const std::string&)> onProblem = {});
    /// Stops.
    ~StorageReceiver();
    StorageReceiver(const StorageReceiver&) = delete;
    StorageReceiver& operator=(const StorageReceiver&) = delete;

    /// Opens the port (UserError when it is taken, or below 1024 without the right) and starts
    /// accepting on a thread.
    void start();
    /// Ends the thread: at once between transfers, and a transfer under way is cut (its ".part"
    /// file removed). Safe to call twice.
    void stop();
    bool running() const;
    const Options& options() const;
    size_t receivedCount() const;
    size_t failedCount() const;

    struct Impl;

private:
    std::unique_ptr<Impl> m_impl;
};

} // namespace medsiam::core
