#pragma once
#include <stdexcept>
#include <string>

namespace medsiam::core {

/// An error whose message is meant for the user: plain words, naming the file, key or value
/// at fault. Thrown by core and shown as-is by the CLI and the GUI.
class UserError : public std::runtime_error {
public:
    explicit UserError(const std::string& message) : std::runtime_error(message) {}
};

/// A write failed because the disk (or the user's quota) is full. Whatever was being written is
/// left as it was before; the message names the file or project and says what was kept.
class DiskFullError : public UserError {
public:
    explicit DiskFullError(const std::string& message) : UserError(message) {}
};

/// True for the errno values that mean "no room left": ENOSPC, EDQUOT and EFBIG.
bool isDiskFullErrno(int err);

} // namespace medsiam::core
