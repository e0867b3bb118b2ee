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

} // namespace medsiam::core
