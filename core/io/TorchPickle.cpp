// torch.save pickles: a restricted unpickler for state dicts (readTorchPickle, TensorFile.h).
#include "io/TensorFile.h"

#include "io/ZipArchive.h"
#include "util/Error.h"
#include "util/SafeSize.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <unordered_map>

namespace medsiam::core {

namespace {

struct PyValue;
using PyRef = std::shared_ptr<PyValue>;

struct PyValue {
    enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor, Mark } kind = Kind::None;
    int64_t i = 0;
    double f = 0;
    std::string s;                              // String; Global "module.name"; Storage key
    std::vector<PyRef> items;                   // Tuple, List
    std::vector<std::pair<PyRef, PyRef>> dict;  // Dict (insertion ordered)
    // Storage / Tensor
    DType dtype = DType::F32;
    int64_t offset = 0;
    std::vector<int64_t> size, stride;
    PyRef storage;
};

PyRef makeValue(PyValue::Kind kind)
{
    auto v = std::make_shared<PyValue>();
    v->kind = kind;
    return v;
}

class RestrictedUnpickler {
public:
    RestrictedUnpickler(std::vector<uint8_t> bytes, std::string what) : m_b(std::move(bytes)), m_what(std::move(what)) {}
    RestrictedUnpickler(const RestrictedUnpickler&) = delete;
    RestrictedUnpickler& operator=(const RestrictedUnpickler&) = delete;
    /// Objects nest through shared pointers, and a chain of 200,000 lists would be destroyed
    /// recursively, past the end of the stack: every link is cut first, so that each object
    /// goes on its own.
    ~RestrictedUnpickler()
    {
        for (auto& v : m_all) {
            v->items.clear();
            v->dict.clear();
            v->storage.reset();
        }
    }

    /// The most deeply a state dict's containers may nest. Real ones nest a few levels.
    static constexpr int kMaxDepth = 1000;

    /// The depth of the containers under `root`, walked without recursion (shared objects are
    /// visited once). Throws when it is over kMaxDepth.
    void checkDepth(const PyRef& root) const
    {
        std::vector<std::pair<const PyValue*, int>> stack{{root.get(), 1}};
        std::unordered_map<const PyValue*, int> seen;
        while (!stack.empty()) {
            auto [v, depth] = stack.back();
            stack.pop_back();
            if (depth > kMaxDepth)
                fail("containers nest more than " + std::to_string(kMaxDepth) + " levels deep; this is not a state dict");
            auto [it, fresh] = seen.emplace(v, depth);
            if (!fresh)
                continue;
            for (const auto& c : v->items)
                stack.push_back({c.get(), depth + 1});
            for (const auto& [k, c] : v->dict) {
                stack.push_back({k.get(), depth + 1});
                stack.push_back({c.get(), depth + 1});
            }
            if (v->storage)
                stack.push_back({v->storage.get(), depth + 1});
        }
    }

    PyRef run()
    {
        for (;;) {
            const uint8_t op = u8();
            switch (op) {
            case 0x80: u8(); break;                        // PROTO
            case 0x95: skip(8); break;                     // FRAME
            case '.': {                                    // STOP
                auto root = pop();
                checkDepth(root);
                return root;
            }
            case '(': push(make(PyValue::Kind::Mark)); break;
            case 'N': push(make(PyValue::Kind::None)); break;
            case 0x88: push(boolean(true)); break;         // NEWTRUE
            case 0x89: push(boolean(false)); break;        // NEWFALSE
            case 'K': push(integer(u8())); break;          // BININT1
            case 'M': push(integer(leU(2))); break;        // BININT2
            case 'J': push(integer(static_cast<int32_t>(leU(4)))); break; // BININT
            case 0x8a: {                                   // LONG1
                const int n = u8();
                if (n > 8)
                    fail("integer too large");
                uint64_t v = 0;
                for (int k = 0; k < n; ++k)
                    v |= uint64_t(u8()) << (8 * k);
                int64_t sv = static_cast<int64_t>(v);
                if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1)
                    sv = static_cast<int64_t>(v | (~uint64_t(0) << (8 * n)));
                push(integer(sv));
                break;
            }
            case 'G': {                                    // BINFLOAT (big-endian double)
                uint64_t bits = 0;
                for (int k = 0; k < 8; ++k)
                    bits = bits << 8 | u8();
                auto v = make(PyValue::Kind::Float);
                std::memcpy(&v->f, &bits, 8);
                push(v);
                break;
            }
            case 'X': push(string(leU(4))); break;         // BINUNICODE
            case 0x8c: push(string(u8())); break;          // SHORT_BINUNICODE
            case 'U': push(string(u8())); break;           // SHORT_BINSTRING
            case 'T': push(string(leU(4))); break;         // BINSTRING
            case 'B': push(string(leU(4))); break;         // BINBYTES
            case 'C': push(string(u8())); break;           // SHORT_BINBYTES
            case ')': push(make(PyValue::Kind::Tuple)); break;
            case ']': push(make(PyValue::Kind::List)); break;
            case '}': push(make(PyValue::Kind::Dict)); break;
            case 't': {
                auto t = make(PyValue::Kind::Tuple);
                t->items = popToMark();
                push(t);
                break;
            }
            case 0x85: case 0x86: case 0x87: {             // TUPLE1..3
                auto t = make(PyValue::Kind::Tuple);
                t->items.resize(op - 0x84);
                for (size_t k = t->items.size(); k-- > 0;)
                    t->items[k] = pop();
                push(t);
                break;
            }
            case 'l': {
                auto l = make(PyValue::Kind::List);
                l->items = popToMark();
                push(l);
                break;
            }
            case 'a': {                                    // APPEND
                auto v = pop();
                expect(top(), PyValue::Kind::List, "APPEND")->items.push_back(v);
                break;
            }
            case 'e': {                                    // APPENDS
                auto items = popToMark();
                auto& list = expect(top(), PyValue::Kind::List, "APPENDS")->items;
                list.insert(list.end(), items.begin(), items.end());
                break;
            }
            case 's': {                                    // SETITEM
                auto v = pop();
                auto k = pop();
                expect(top(), PyValue::Kind::Dict, "SETITEM")->dict.emplace_back(k, v);
                break;
            }
            case 'u': {                                    // SETITEMS
                auto items = popToMark();
                if (items.size() % 2)
                    fail("odd number of items in SETITEMS");
                auto d = expect(top(), PyValue::Kind::Dict, "SETITEMS");
                for (size_t k = 0; k < items.size(); k += 2)
                    d->dict.emplace_back(items[k], items[k + 1]);
                break;
            }
            case 'q': memo(u8()); break;                   // BINPUT
            case 'r': memo(leU(4)); break;                 // LONG_BINPUT
            case 0x94: memo(m_memo.size()); break;         // MEMOIZE
            case 'h': push(recall(u8())); break;           // BINGET
            case 'j': push(recall(leU(4))); break;         // LONG_BINGET
            case 'c': {                                    // GLOBAL
                const std::string module = line();
                const std::string name = line();
                push(global(module, name));
                break;
            }
            case 0x93: {                                   // STACK_GLOBAL
                auto name = pop();
                auto module = pop();
                push(global(module->s, name->s));
                break;
            }
            case 'Q': {                                    // BINPERSID
                push(persistent(pop()));
                break;
            }
            case 'R': {                                    // REDUCE
                auto args = pop();
                auto callable = pop();
                push(reduce(callable, args));
                break;
            }
            case 'b': pop(); break;                        // BUILD: state (e.g. _metadata) is not needed
            case '0': pop(); break;                        // POP
            case '2': push(top()); break;                  // DUP
            default:
                fail("unsupported pickle opcode 0x" + hex(op) + " at byte " + std::to_string(m_pos - 1));
            }
        }
    }

private:
    /// Every object is made here, so that the destructor can take them apart one by one.
    PyRef make(PyValue::Kind kind)
    {
        auto v = makeValue(kind);
        m_all.push_back(v);
        return v;
    }
    [[noreturn]] void fail(const std::string& why) const { throw UserError(m_what + ": " + why); }
    static std::string hex(uint8_t v)
    {
        const char* d = "0123456789abcdef";
        return {d[v >> 4], d[v & 15]};
    }
    uint8_t u8()
    {
        if (m_pos >= m_b.size())
            fail("pickle is truncated");
        return m_b[m_pos++];
    }
    void skip(size_t n)
    {
        if (m_pos + n > m_b.size())
            fail("pickle is truncated");
        m_pos += n;
    }
    uint64_t leU(int n)
    {
        uint64_t v = 0;
        for (int k = 0; k < n; ++k)
            v |= uint64_t(u8()) << (8 * k);
        return v;
    }
    std::string line()
    {
        std::string s;
        for (char c; (c = static_cast<char>(u8())) != '\n';)
            s += c;
        return s;
    }
    PyRef boolean(bool b)
    {
        auto v = make(PyValue::Kind::Bool);
        v->i = b;
        return v;
    }
    PyRef integer(int64_t i)
    {
        auto v = make(PyValue::Kind::Int);
        v->i = i;
        return v;
    }
    PyRef string(uint64_t n)
    {
        if (m_pos + n > m_b.size())
            fail("pickle is truncated");
        auto v = make(PyValue::Kind::String);
        v->s.assign(reinterpret_cast<const char*>(m_b.data() + m_pos), n);
        m_pos += n;
        return v;
    }
    void push(PyRef v) { m_stack.push_back(std::move(v)); }
    PyRef pop()
    {
        if (m_stack.empty())
            fail("pickle stack underflow");
        auto v = m_stack.back();
        m_stack.pop_back();
        return v;
    }
    PyRef top()
    {
        if (m_stack.empty())
            fail("pickle stack underflow");
        return m_stack.back();
    }
    PyRef expect(PyRef v, PyValue::Kind kind, const char* op)
    {
        if (v->kind != kind)
            fail(std::string(op) + " on an object of the wrong type");
        return v;
    }
    std::vector<PyRef> popToMark()
    {
        std::vector<PyRef> items;
        for (;;) {
            auto v = pop();
            if (v->kind == PyValue::Kind::Mark)
                break;
            items.push_back(v);
        }
        return {items.rbegin(), items.rend()};
    }
    void memo(uint64_t index)
    {
        if (index > m_b.size())
            fail("invalid memo index");
        if (m_memo.size() <= index)
            m_memo.resize(index + 1);
        m_memo[index] = top();
    }
    PyRef recall(uint64_t index)
    {
        if (index >= m_memo.size() || !m_memo[index])
            fail("invalid memo reference");
        return m_memo[index];
    }

    PyRef global(const std::string& module, const std::string& name)
    {
        const std::string full = module + "." + name;
        static const char* allowed[] = {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
                                        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
                                        "builtins.set", "torch.Size"};
        bool ok = module == "torch" && name.size() > 7 && name.compare(name.size() - 7, 7, "Storage") == 0;
        for (const char* a : allowed)
            ok = ok || full == a;
        if (!ok)
            fail("holds a '" + full + "' object; medsiam reads only tensors, dicts and numbers from PyTorch files "
                                      "(save a state_dict, or convert the weights to safetensors)");
        auto v = make(PyValue::Kind::Global);
        v->s = full;
        return v;
    }

    PyRef persistent(PyRef pid)
    {
        if (pid->kind != PyValue::Kind::Tuple || pid->items.size() < 5 || pid->items[0]->s != "storage")
            fail("unsupported persistent object");
        const std::string type = pid->items[1]->s; // "torch.FloatStorage"
        static const std::pair<const char*, DType> table[] = {
            {"torch.FloatStorage", DType::F32},   {"torch.DoubleStorage", DType::F64}, {"torch.HalfStorage", DType::F16},
            {"torch.BFloat16Storage", DType::BF16}, {"torch.LongStorage", DType::I64}, {"torch.IntStorage", DType::I32},
            {"torch.ShortStorage", DType::I16},   {"torch.CharStorage", DType::I8},    {"torch.ByteStorage", DType::U8},
            {"torch.BoolStorage", DType::Bool}};
        auto v = make(PyValue::Kind::Storage);
        bool known = false;
        for (const auto& [n, d] : table)
            if (type == n) {
                v->dtype = d;
                known = true;
            }
        if (!known)
            fail("unsupported storage type " + type);
        v->s = pid->items[2]->s;
        v->i = pid->items[4]->i; // element count
        return v;
    }

    PyRef reduce(PyRef callable, PyRef args)
    {
        if (callable->kind != PyValue::Kind::Global || args->kind != PyValue::Kind::Tuple)
            fail("unsupported REDUCE");
        const std::string& f = callable->s;
        if (f == "collections.OrderedDict")
            return make(PyValue::Kind::Dict);
        if (f == "builtins.set")
            return make(PyValue::Kind::List);
        if (f == "torch.Size") {
            auto t = make(PyValue::Kind::Tuple);
            if (!args->items.empty())
                t->items = args->items[0]->items;
            return t;
        }
        if (f == "torch._utils._rebuild_parameter" || f == "torch._utils._rebuild_parameter_with_state") {
            if (args->items.empty() || args->items[0]->kind != PyValue::Kind::Tensor)
                fail("malformed parameter");
            return args->items[0];
        }
        if (f == "torch._utils._rebuild_tensor_v2") {
            if (args->items.size() < 4 || args->items[0]->kind != PyValue::Kind::Storage)
                fail("malformed tensor");
            auto t = make(PyValue::Kind::Tensor);
            t->storage = args->items[0];
            t->dtype = t->storage->dtype;
            t->offset = args->items[1]->i;
            for (const auto& d : args->items[2]->items)
                t->size.push_back(d->i);
            for (const auto& d : args->items[3]->items)
                t->stride.push_back(d->i);
            if (t->size.size() != t->stride.size())
                fail("tensor size and stride disagree");
            return t;
        }
        fail("unsupported call to " + f);
    }

    std::vector<uint8_t> m_b;
    std::string m_what;
    size_t m_pos = 0;
    std::vector<PyRef> m_stack;
    std::vector<PyRef> m_memo;
    std::vector<PyRef> m_all;
};

bool isTensorDict(const PyRef& v)
{
    if (v->kind != PyValue::Kind::Dict || v->dict.empty())
        return false;
    for (const auto& [k, val] : v->dict)
        if (k->kind != PyValue::Kind::String || val->kind != PyValue::Kind::Tensor)
            return false;
    return true;
}

} // namespace

TensorFile readTorchPickle(const std::string& path)
{
    TensorFile file;
    file.path = path;
    file.format = TensorFileFormat::TorchPickle;
    ZipArchive zip(path);
    const ZipArchive::Entry* pkl = nullptr;
    for (const auto& e : zip.entries())
        if (e.name.size() >= 9 && e.name.compare(e.name.size() - 9, 9, "/data.pkl") == 0)
            pkl = &e;
    if (!pkl)
        throw UserError("'" + path + "' is a zip archive without data.pkl, not a PyTorch file");
    const std::string prefix = pkl->name.substr(0, pkl->name.size() - 8); // "<archive>/"
    if (const auto* order = zip.find(prefix + "byteorder")) {
        const auto bytes = zip.read(*order);
        if (std::string(bytes.begin(), bytes.end()) != "little")
            throw UserError("'" + path + "' was saved on a big-endian machine, which medsiam does not read");
    }
    RestrictedUnpickler unpickler(zip.read(*pkl), "'" + path + "'");
    PyRef root = unpickler.run();
    PyRef dict;
    if (isTensorDict(root)) {
        dict = root;
    } else if (root->kind == PyValue::Kind::Dict) {
        for (const char* key : {"state_dict", "model", "model_state_dict", "module", "net"})
            for (const auto& [k, v] : root->dict)
                if (!dict && k->kind == PyValue::Kind::String && k->s == key && isTensorDict(v))
                    dict = v;
    }
    if (!dict)
        throw UserError("'" + path + "' holds no dict of tensors (looked at the top level and at 'state_dict' and "
                        "'model'); save the model's state_dict()");

    std::unordered_map<std::string, std::vector<uint8_t>> storages;
    for (const auto& [k, v] : dict->dict) {
        RawTensor t;
        t.name = k->s;
        t.dtype = v->dtype;
        t.shape = v->size;
        const int es = dtypeSize(t.dtype);
        auto it = storages.find(v->storage->s);
        if (it == storages.end()) {
            const auto* entry = zip.find(prefix + "data/" + v->storage->s);
            if (!entry)
                throw UserError("'" + path + "': storage " + v->storage->s + " of tensor '" + t.name + "' is missing; the file is truncated");
            it = storages.emplace(v->storage->s, zip.read(*entry)).first;
        }
        const auto& storage = it->second;
        // Every element the shape and strides reach must lie in the storage: checked before the
        // tensor is allocated, as a shape of (2^31 - 1,) over a 4-element storage must cost nothing.
        auto damaged = [&](const std::string& why) {
            throw UserError("'" + path + "': tensor '" + t.name + "' " + why + "; the file is damaged");
        };
        const int64_t n = t.numel();
        int64_t bytes = 0;
        if (n < 0 || !checkedMul(n, es, bytes))
            damaged("has a shape " + t.shapeText() + " whose size overflows");
        if (v->offset < 0)
            damaged("starts before its storage");
        if (n > 0) {
            int64_t last = v->offset;
            for (size_t d = 0; d < t.shape.size(); ++d) {
                int64_t step = 0;
                if (v->stride[d] < 0 || !checkedMul(t.shape[d] - 1, v->stride[d], step) || __builtin_add_overflow(last, step, &last))
                    damaged("has strides that reach outside its storage");
            }
            int64_t end = 0;
            if (!checkedMul(last + 1, es, end) || static_cast<uint64_t>(end) > storage.size())
                damaged("reaches outside its storage");
        }
        t.data.resize(static_cast<size_t>(bytes));
        bool contiguous = true;
        for (int64_t d = static_cast<int64_t>(t.shape.size()) - 1, expected = 1; d >= 0; --d) {
            contiguous = contiguous && (t.shape[d] == 1 || v->stride[d] == expected);
            expected *= t.shape[d];
        }
        if (contiguous && n > 0) {
            std::memcpy(t.data.data(), storage.data() + v->offset * es, t.data.size());
            file.tensors.push_back(std::move(t));
            continue;
        }
        // Gather through the strides (views and non-contiguous tensors), checking bounds.
        std::vector<int64_t> idx(t.shape.size(), 0);
        for (int64_t e = 0; e < n; ++e) {
            int64_t src = v->offset;
            for (size_t d = 0; d < idx.size(); ++d)
                src += idx[d] * v->stride[d];
            if (src < 0 || static_cast<uint64_t>((src + 1) * es) > storage.size())
                throw UserError("'" + path + "': tensor '" + t.name + "' reaches outside its storage; the file is damaged");
            std::memcpy(t.data.data() + e * es, storage.data() + src * es, static_cast<size_t>(es));
            for (size_t d = idx.size(); d-- > 0;) {
                if (++idx[d] < t.shape[d])
                    break;
                idx[d] = 0;
            }
        }
        file.tensors.push_back(std::move(t));
    }
    return file;
}

} // namespace medsiam::core
