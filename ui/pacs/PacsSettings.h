#pragma once
// The desktop app's PACS settings: the nodes the user keeps (name, AE title, host, port) and how
// medsiam itself connects (its AE title, C-GET or C-MOVE, the storage receiver's port, the
// timeout). Kept in QSettings; defaults and validation are core's (pacs/Pacs.h). Patient names
// and other search values are never kept.
#include "pacs/Pacs.h"

#include <QString>

#include <optional>
#include <vector>

namespace medsiam::ui {

struct PacsSettings {
    std::vector<core::PacsNode> nodes;
    QString currentNode; ///< the name of the node last used
    QString ourAeTitle = QString::fromLatin1(core::kDefaultOurAeTitle);
    core::RetrieveMethod method = core::RetrieveMethod::Get;
    int storagePort = core::kDefaultStoragePort;
    int timeoutSeconds = core::kDefaultPacsTimeoutSeconds;

    /// What the settings hold; an entry that is not valid (edited by hand) is left out.
    static PacsSettings load();
    void save() const;

    /// The node named `name`, or nullptr.
    const core::PacsNode* find(const QString& name) const;
    /// Adds `node`, or replaces the one named `replacing`: "" or why not (core::checkNode's
    /// message, an empty or taken name).
    QString put(const core::PacsNode& node, const QString& replacing = {});
    void remove(const QString& name);
};

} // namespace medsiam::ui
