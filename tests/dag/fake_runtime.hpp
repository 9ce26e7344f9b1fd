// fake_runtime.hpp: a tiny pretend language implementing dag::CellRuntime, for unit tests of the engine.
// Must not know about R: values are strings built from their inputs, so a wrong binding shows in the text.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "dag/cell_runtime.hpp"
#include "dag/execution_cache.hpp"

namespace ripple::dag::testing {

// Statements, one per line:
//   x <- a b      binds x to "x(<a's value>,<b's value>)"; reading an unbound name fails the run
//   x += a        uses and binds x (a replacement form): "x(<x>,<a>)"
//   rm x          removes x
//   lib P         attaches package P (exports in `packages`)
//   env e         binds e to a new opaque value; `poke e` changes it in place
//   out a         reads a (prints it: recorded in `printed`)
//   read F        reads the file F (a literal path, as R's analysis finds them)
//   volatile, setopt, setwd, setenv, attach, lsall, rmall, unparsable: what the analysis says of such R code (the
//   run does nothing)
class FakeRuntime final : public CellRuntime {
public:
    std::map<std::string, std::set<std::string>> packages{{"P", {"pf", "pg"}}};
    std::vector<std::string> run_log;           // code of every run, in order
    std::map<std::string, std::string> printed; // cell id -> what its `out` lines printed
    bool supports_cache = false;                // hash, serialize and replay like rbridge does

    CellAnalysis analyze(const std::string& code) override {
        CellAnalysis analysis;
        std::set<std::string> bound;
        if (supports_cache) {
            // Tokens without comments or layout, like R's parser gives them.
            for (const auto& words : statements(code)) {
                for (const auto& word : words) analysis.fingerprint += word + " ";
                analysis.fingerprint += ";";
            }
        }
        for (const auto& words : statements(code)) {
            const std::string& head = words[0];
            if (words.size() >= 2 && (words[1] == "<-" || words[1] == "+=")) {
                for (size_t i = 2; i < words.size(); ++i) read(analysis, bound, words[i]);
                if (words[1] == "+=") read(analysis, bound, head);
                analysis.defs.insert(head);
                bound.insert(head);
            } else if (head == "rm" && words.size() == 2) {
                analysis.deletes.insert(words[1]);
            } else if (head == "lib" && words.size() == 2) {
                analysis.attaches.insert(words[1]);
            } else if (head == "env" && words.size() == 2) {
                analysis.defs.insert(words[1]);
                bound.insert(words[1]);
            } else if ((head == "poke" || head == "out") && words.size() == 2) {
                read(analysis, bound, words[1]);
            } else if (head == "read" && words.size() == 2) {
                analysis.files.insert(words[1]);
            } else if (head == "volatile") {
                analysis.is_volatile = true;
            } else if (head == "setopt") {
                analysis.effects.insert("options");
            } else if (head == "attach") {
                analysis.effects.insert("search"); // attach(df), detach(), a computed package name
            } else if (head == "setwd") {
                analysis.effects.insert("wd");
            } else if (head == "setenv") {
                analysis.effects.insert("envvars");
            } else if (head == "lsall") {
                analysis.effects.insert("globals");
            } else if (head == "rmall") {
                analysis.deletes_all = true;
            } else if (head == "unparsable") {
                analysis.parsed = false;
            }
        }
        return analysis;
    }

    std::set<std::string> closure_uses(const std::set<std::string>&) override { return {}; }

    std::set<std::string> package_exports(const std::string& package) override { return packages[package]; }

    // Like rbridge: with `changed`, only those names and the ones runs and bind() changed since the last restore are
    // looked at, so that a name the engine forgets to name keeps a wrong value and a test sees it.
    void restore(const std::map<std::string, ValueId>& state, const std::set<std::string>& tracked,
                 const std::set<std::string>* changed) override {
        restore_hints.push_back(changed ? std::optional<std::set<std::string>>(*changed) : std::nullopt);
        std::set<std::string> names = tracked;
        if (changed && restored_) {
            names.clear();
            for (const auto& symbol : *changed) {
                if (tracked.count(symbol)) names.insert(symbol);
            }
            for (const auto& symbol : changed_since_restore_) {
                if (tracked.count(symbol)) names.insert(symbol);
            }
        }
        for (const auto& symbol : names) {
            auto bound = state.find(symbol);
            if (bound == state.end()) globals_.erase(symbol);
            else globals_[symbol] = bound->second;
        }
        attached_.clear();
        for (const auto& [symbol, value] : state) {
            if (symbol == kSearchSymbol) attached_ = split(objects_.at(value).text);
        }
        restored_ = true;
        changed_since_restore_.clear();
    }

    void bind(const std::map<std::string, ValueId>& values) override {
        for (const auto& [symbol, value] : values) {
            if (symbol == kSearchSymbol) attached_ = split(objects_.at(value).text);
            else globals_[symbol] = value;
            changed_since_restore_.insert(symbol);
        }
    }
    // What each restore() was told had changed (nullopt: not told).
    std::vector<std::optional<std::set<std::string>>> restore_hints;

    RunOutcome run(const std::string& code, const RunContext& context,
                   const std::set<std::string>& report_bindings) override {
        run_log.push_back(code);
        std::map<std::string, ValueId> before = globals_;
        std::set<std::string> attached_before = attached_;
        RunOutcome outcome;
        std::string printed_text;
        for (const auto& words : statements(code)) {
            const std::string& head = words[0];
            if (words.size() >= 2 && (words[1] == "<-" || words[1] == "+=")) {
                std::string text = head + "(";
                std::vector<std::string> inputs(words.begin() + 2, words.end());
                if (words[1] == "+=") inputs.insert(inputs.begin(), head);
                bool ok = true;
                for (size_t i = 0; i < inputs.size(); ++i) {
                    auto value = lookup(inputs[i]);
                    if (!value) {
                        ok = false;
                        break;
                    }
                    text += (i ? "," : "") + *value;
                }
                if (!ok) {
                    outcome.failed = true;
                    break;
                }
                globals_[head] = hold(text + ")", false);
            } else if (head == "rm") {
                globals_.erase(words[1]);
            } else if (head == "lib") {
                attached_.insert(words[1]);
            } else if (head == "env") {
                globals_[words[1]] = hold("env", true);
            } else if (head == "poke") {
                auto found = globals_.find(words[1]);
                if (found == globals_.end()) {
                    outcome.failed = true;
                    break;
                }
                const_cast<Object&>(resolve(found->second)).text += "+poke";
            } else if (head == "out") {
                auto value = lookup(words[1]);
                if (!value) {
                    outcome.failed = true;
                    break;
                }
                printed_text += *value + ";";
            }
        }
        printed[context.cell_id] = printed_text + (outcome.failed ? "ERROR" : "");
        if (context.record_outputs) outcome.recorded_outputs = printed[context.cell_id];
        for (const auto& [symbol, value] : globals_) {
            auto old = before.find(symbol);
            if (old == before.end() || old->second != value) outcome.bound[symbol] = value;
            else if (report_bindings.count(symbol)) outcome.passed_through.insert(symbol);
        }
        for (const auto& [symbol, value] : before) {
            if (!globals_.count(symbol)) outcome.removed.insert(symbol);
        }
        for (const auto& [symbol, value] : outcome.bound) changed_since_restore_.insert(symbol);
        changed_since_restore_.insert(outcome.removed.begin(), outcome.removed.end());
        if (attached_ != attached_before) {
            std::string text;
            for (const auto& package : attached_) text += package + " ";
            outcome.bound[kSearchSymbol] = hold(text, false);
            for (const auto& package : attached_) {
                if (!attached_before.count(package)) outcome.attached_packages.insert(package);
            }
        }
        return outcome;
    }

    bool is_opaque(ValueId value) override { return objects_.count(value) && objects_[value].opaque; }
    ValueId rehold(ValueId value) override {
        ValueId id = ++next_id_;
        objects_[id] = objects_[value];
        objects_[id].shared_with = value;
        return id;
    }
    void release(ValueId value) override { released_.insert(value); }

    std::optional<std::string> value_hash(ValueId value) override {
        if (!supports_cache || !objects_.count(value) || objects_[value].opaque) return std::nullopt;
        return "hash(" + objects_[value].text + ")";
    }
    std::optional<std::string> serialize_value(ValueId value) override {
        if (!supports_cache || !objects_.count(value)) return std::nullopt;
        return objects_[value].text;
    }
    ValueId unserialize_value(const std::string& bytes, const std::string&) override { return hold(bytes, false); }
    // No package is installed anywhere: nothing to stamp (a step depends on the files it read only).
    std::optional<std::vector<std::string>> package_files(const std::set<std::string>&) override {
        if (!supports_cache) return std::nullopt;
        return std::vector<std::string>{};
    }
    bool replay(const std::string& recorded, const RunContext& context) override {
        printed[context.cell_id] = recorded;
        return true;
    }
    std::optional<KeyEnvironment> key_environment() override {
        if (!supports_cache) return std::nullopt;
        return KeyEnvironment{"4.2", {}, {}, "C", "fake-1"};
    }
    std::string package_version(const std::string&) override { return "1.0"; }

    // The current text of a global, or "<unbound>".
    std::string global(const std::string& symbol) {
        auto value = lookup(symbol);
        return value ? *value : "<unbound>";
    }
    size_t live_values() const { return objects_.size() - released_.size(); }

private:
    struct Object {
        std::string text;
        bool opaque = false;
        ValueId shared_with = 0; // rehold: the same object under another id
    };

    static std::vector<std::vector<std::string>> statements(const std::string& code) {
        std::vector<std::vector<std::string>> result;
        std::istringstream lines(code);
        std::string line;
        while (std::getline(lines, line)) {
            line = line.substr(0, line.find('#')); // comments
            std::vector<std::string> words = split_vector(line);
            if (!words.empty()) result.push_back(words);
        }
        return result;
    }
    static std::vector<std::string> split_vector(const std::string& text) {
        std::istringstream in(text);
        std::vector<std::string> words;
        for (std::string word; in >> word;) words.push_back(word);
        return words;
    }
    static std::set<std::string> split(const std::string& text) {
        auto words = split_vector(text);
        return {words.begin(), words.end()};
    }
    static void read(CellAnalysis& analysis, const std::set<std::string>& bound, const std::string& symbol) {
        if (!bound.count(symbol)) analysis.uses.insert(symbol);
    }
    ValueId hold(const std::string& text, bool opaque) {
        ValueId id = ++next_id_;
        objects_[id] = Object{text, opaque, 0};
        return id;
    }
    // Opaque objects are shared between ids: follow to the original to see in-place changes.
    const Object& resolve(ValueId id) {
        const Object* object = &objects_.at(id);
        while (object->shared_with != 0) object = &objects_.at(object->shared_with);
        return *object;
    }
    std::optional<std::string> lookup(const std::string& symbol) {
        auto found = globals_.find(symbol);
        if (found != globals_.end()) {
            const Object& object = objects_.at(found->second);
            return object.opaque ? resolve(found->second).text : object.text;
        }
        for (const auto& package : attached_) {
            if (packages[package].count(symbol)) return package + "::" + symbol;
        }
        return std::nullopt;
    }

    std::map<std::string, ValueId> globals_;
    std::set<std::string> attached_;
    bool restored_ = false;                       // a restore() has happened (the next may look at changed names only)
    std::set<std::string> changed_since_restore_; // names runs and bind() changed since the last restore()
    std::map<ValueId, Object> objects_;
    std::set<ValueId> released_;
    ValueId next_id_ = 0;
};

// An in-memory ExecutionCache (the real one is SQLite-backed, tested in tests/dag/test_cache_store.cpp).
class MemoryCache final : public ExecutionCache {
public:
    std::map<std::string, CachedRun> entries;
    std::map<std::string, std::string> values;
    int finds = 0, hits = 0;

    std::optional<CachedRun> find(const std::string& digest) override {
        ++finds;
        auto found = entries.find(digest);
        if (found == entries.end()) return std::nullopt;
        ++hits;
        return found->second;
    }
    void store(const std::string& digest, const CachedRun& run) override { entries[digest] = run; }
    bool has_value(const std::string& hash) override { return values.count(hash) > 0; }
    std::optional<std::string> load_value(const std::string& hash) override {
        auto found = values.find(hash);
        if (found == values.end()) return std::nullopt;
        return found->second;
    }
    void store_value(const std::string& hash, const std::string& bytes) override { values[hash] = bytes; }
    std::map<std::pair<std::string, std::string>, std::string> steps; // (state, request) -> step
    std::optional<std::string> find_replay_step(const std::string& state, const std::string& request) override {
        auto found = steps.find({state, request});
        if (found == steps.end()) return std::nullopt;
        return found->second;
    }
    void store_replay_step(const std::string& state, const std::string& request, const std::string&,
                           const std::string& step) override {
        steps[{state, request}] = step;
    }
};

} // namespace ripple::dag::testing
