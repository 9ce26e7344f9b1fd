// engine_runtime.cpp: translates between the engine's runtime interface and rbridge's R session.
// Must not know about sockets; no engine decisions here.
#include "engine_runtime.hpp"

#include <R_ext/Memory.h>

#include <chrono>
#include <ctime>
#include <optional>
#include <stdexcept>

#include "rbridge/output_record.hpp"
#include "rbridge/process_watch.hpp"
#include "rbridge/value_hash.hpp"

namespace ripple::rbridge {

static_assert(sizeof(dag::ValueId) == sizeof(ValueHandle), "value handles and ids are the same numbers");

EngineRuntime::EngineRuntime(CellEvaluator& evaluator, RunOutputs& outputs) : evaluator_(evaluator), outputs_(outputs) {
    // The pseudo-symbols are spelled the same on both sides of the interface.
    if (dag::kOptionsSymbol != kOptionsState || dag::kWorkdirSymbol != kWorkdirState ||
        dag::kSearchSymbol != kSearchState || dag::kEnvSymbol != kEnvState) {
        throw std::logic_error("dag and rbridge disagree on the names of session state");
    }
}

dag::CellAnalysis EngineRuntime::analyze(const std::string& code) {
    StaticAnalysis found = state_.analyze(code, cache_support_);
    dag::CellAnalysis analysis;
    analysis.parsed = found.parsed;
    analysis.defs = std::move(found.defs);
    analysis.uses = std::move(found.uses);
    analysis.deletes = std::move(found.deletes);
    analysis.deletes_all = found.deletes_all;
    analysis.attaches = std::move(found.attaches);
    analysis.files = std::move(found.files);
    analysis.effects = std::move(found.effects);
    analysis.is_volatile = found.is_volatile;
    analysis.fingerprint = std::move(found.fingerprint);
    return analysis;
}

std::set<std::string> EngineRuntime::closure_uses(const std::set<std::string>& names) {
    return state_.closure_uses(names);
}

std::set<std::string> EngineRuntime::package_exports(const std::string& package) {
    return state_.package_exports(package);
}

void EngineRuntime::restore(const std::map<std::string, dag::ValueId>& state, const std::set<std::string>& tracked,
                            const std::set<std::string>* changed) {
    // user_expressions, completion, inspection and untracked runs evaluate R code no watch saw.
    if (known_at_evaluation_ != evaluator_.evaluations()) state_.forget_environment();
    state_.restore(state, tracked, changed);
    known_at_evaluation_ = evaluator_.evaluations();
}

dag::RunOutcome EngineRuntime::run(const std::string& code, const dag::RunContext& context,
                                   const std::set<std::string>& report_bindings) {
    auto entered = std::chrono::steady_clock::now();
    double entered_cpu = thread_cpu_seconds();
    double entered_gc = gc_seconds();
    OutputSink& front = outputs_.open(context);
    std::optional<RecordingSink> recording;
    if (context.record_outputs) recording.emplace(front);
    OutputSink& sink = recording ? static_cast<OutputSink&>(*recording) : front;
    const bool tracked = !context.cell_id.empty();
    const bool known = known_at_evaluation_ == evaluator_.evaluations();
    if (tracked) state_.begin_watch();
    auto started = std::chrono::steady_clock::now();
    if (tracked) ProcessWatch::start();
    EvalStatus status = evaluator_.execute(code, sink);
    ProcessTouches touched = tracked ? ProcessWatch::stop() : ProcessTouches{};
    timing_.eval_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    dag::RunOutcome outcome;
    outcome.failed = status != EvalStatus::Ok;
    outcome.interrupted = status == EvalStatus::Interrupted;
    if (tracked) {
        StateChange change = state_.end_watch(report_bindings);
        outcome.bound = std::move(change.bound);
        outcome.passed_through = std::move(change.passed_through);
        outcome.removed = std::move(change.removed);
        outcome.attached_packages = std::move(change.attached_packages);
        outcome.files_read = std::move(touched.read);
        outcome.files_written = std::move(touched.written);
        outcome.files_appended = std::move(touched.appended);
        outcome.outside = std::move(touched.outside);
        // The watch saw whatever this run changed (end_watch noted it).
        if (known) known_at_evaluation_ = evaluator_.evaluations();
    }
    if (recording) outcome.recorded_outputs = recording->events().dump();
    outputs_.close(context, status);
    timing_.run_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - entered).count();
    timing_.run_cpu_seconds += thread_cpu_seconds() - entered_cpu;
    timing_.run_gc_seconds += gc_seconds() - entered_gc;
    return outcome;
}

double EngineRuntime::thread_cpu_seconds() {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

double EngineRuntime::gc_seconds() {
    static SEXP gc_time = Rf_install("gc.time");
    SEXP times = call_guarded(gc_time, {});
    // gc.time(): user, system and elapsed seconds of the collections so far (then two of child processes).
    return times != nullptr && TYPEOF(times) == REALSXP && Rf_xlength(times) >= 3 ? REAL(times)[2] : 0.0;
}

EngineRuntime::Timing EngineRuntime::take_timing() {
    Timing timing = timing_;
    timing_ = Timing{};
    return timing;
}

} // namespace ripple::rbridge

namespace ripple::rbridge {

std::optional<std::string> EngineRuntime::value_hash(dag::ValueId value) { return state_.value_hash(value); }

std::optional<std::string> EngineRuntime::serialize_value(dag::ValueId value) { return state_.serialize(value); }

dag::ValueId EngineRuntime::unserialize_value(const std::string& bytes, const std::string& hash) {
    return state_.unserialize(bytes, hash);
}

bool EngineRuntime::replay(const std::string& recorded_outputs, const dag::RunContext& context) {
    nlohmann::json events = nlohmann::json::parse(recorded_outputs, nullptr, false);
    if (events.is_discarded() || !events.is_array()) return false;
    OutputSink& sink = outputs_.open(context);
    bool replayed = rbridge::replay(events, sink);
    outputs_.close(context, EvalStatus::Ok);
    return replayed;
}

void EngineRuntime::collect_garbage() { R_gc(); }

std::optional<std::uint64_t> EngineRuntime::start_value_write(dag::ValueId value, const std::string& path) {
    std::optional<BackgroundWrite> write = state_.write_in_background(value, path);
    if (!write) return std::nullopt;
    writes_.emplace(++next_ticket_, std::move(*write));
    return next_ticket_;
}

std::optional<dag::CellRuntime::ValueWrite> EngineRuntime::poll_value_write(std::uint64_t ticket, bool wait) {
    auto found = writes_.find(ticket);
    if (found == writes_.end()) return ValueWrite{false, "", 0, "no such write"};
    std::optional<BackgroundWriteResult> result = found->second.poll(wait);
    if (!result) return std::nullopt;
    writes_.erase(found);
    return ValueWrite{result->ok, result->hash, result->bytes, result->error};
}

std::optional<dag::KeyEnvironment> EngineRuntime::key_environment() {
    GlobalState::KeyFacts facts = state_.key_facts();
    dag::KeyEnvironment environment;
    environment.r_version = facts.r_version;
    environment.attached_packages = std::move(facts.packages);
    environment.output_options = std::move(facts.output_options);
    environment.locale = facts.locale;
    environment.value_format = rbridge::value_format();
    return environment;
}

} // namespace ripple::rbridge
