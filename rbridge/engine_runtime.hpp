// engine_runtime.hpp: dag::CellRuntime over the embedded R session, with a hook that lets each front door
// (kernel, run-notebook) decide where a run's outputs go. Knows dag only via dag/cell_runtime.hpp; no engine logic.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "dag/cell_runtime.hpp"
#include "rbridge/cell_evaluator.hpp"
#include "rbridge/global_state.hpp"

namespace ripple::rbridge {

// Where the outputs of one run go: `open` gives the sink before the run, `close` is told how it ended.
class RunOutputs {
public:
    virtual ~RunOutputs() = default;
    virtual OutputSink& open(const dag::RunContext& context) = 0;
    virtual void close(const dag::RunContext& context, EvalStatus status) = 0;
};

class EngineRuntime final : public dag::CellRuntime {
public:
    EngineRuntime(CellEvaluator& evaluator, RunOutputs& outputs);

    dag::CellAnalysis analyze(const std::string& code) override;
    std::set<std::string> closure_uses(const std::set<std::string>& names) override;
    std::set<std::string> package_exports(const std::string& package) override;
    void restore(const std::map<std::string, dag::ValueId>& state, const std::set<std::string>& tracked,
                 const std::set<std::string>* changed) override;
    void bind(const std::map<std::string, dag::ValueId>& values) override { state_.bind(values); }
    dag::RunOutcome run(const std::string& code, const dag::RunContext& context,
                        const std::set<std::string>& report_bindings) override;
    bool is_opaque(dag::ValueId value) override { return state_.is_opaque(value); }
    std::set<std::string> attached_between(dag::ValueId before, dag::ValueId after) override {
        return state_.attached_between(before, after);
    }

    // The cache's side (SPEC 5). Fingerprints are computed only once caching is switched on.
    void enable_cache_support(bool on) { cache_support_ = on; }
    std::optional<std::string> value_hash(dag::ValueId value) override;
    std::optional<std::string> serialize_value(dag::ValueId value) override;
    dag::ValueId unserialize_value(const std::string& bytes, const std::string& hash) override;
    bool replay(const std::string& recorded_outputs, const dag::RunContext& context) override;
    std::optional<dag::KeyEnvironment> key_environment() override;
    std::string package_version(const std::string& package) override { return state_.package_version(package); }
    std::optional<std::vector<std::string>> package_files(const std::set<std::string>& packages) override {
        return state_.package_files(packages);
    }
    std::pair<std::string, std::string> rng_state() override { return {state_.rng_kind(), std::string()}; }
    std::optional<std::uint64_t> value_bytes(dag::ValueId value) override { return state_.value_bytes(value); }
    void set_value_identity(dag::ValueId value, const std::string& identity) override {
        state_.set_identity(value, identity);
    }
    bool value_hash_known(dag::ValueId value) override { return state_.hash_known(value); }
    bool evict(dag::ValueId value) override { return state_.evict(value); }
    bool resident(dag::ValueId value) override { return state_.resident(value); }
    bool refill(dag::ValueId value, const dag::SharedBytes& bytes) override {
        return state_.refill(value, bytes.bytes, bytes.mapped);
    }
    bool adopt(dag::ValueId into, dag::ValueId from) override { return state_.adopt(into, from); }
    void collect_garbage() override;
    dag::ValueId hold_lazy(const std::string& identity) override { return state_.hold_lazy(identity); }
    void set_value_loader(std::function<std::optional<dag::SharedBytes>(dag::ValueId)> loader) override {
        state_.set_loader([loader = std::move(loader)](ValueHandle value) -> std::optional<GlobalState::LoadedBytes> {
            std::optional<dag::SharedBytes> bytes = loader(value);
            if (!bytes) return std::nullopt;
            return GlobalState::LoadedBytes{bytes->owner, bytes->bytes, bytes->mapped};
        });
    }
    std::optional<std::uint64_t> start_value_write(dag::ValueId value, const std::string& path) override;
    std::optional<ValueWrite> poll_value_write(std::uint64_t ticket, bool wait) override;
    dag::ValueId rehold(dag::ValueId value) override { return state_.rehold(value); }
    void release(dag::ValueId value) override { state_.release(value); }

    // Where a request's time went since the last call: `eval` evaluating user code, `run` inside run()
    // (evaluation plus watching the global state and routing outputs). The rest is analysis and planning.
    struct Timing {
        double eval_seconds = 0;
        double run_seconds = 0;
        double run_cpu_seconds = 0; // the R thread's CPU time inside run()
        double run_gc_seconds = 0;  // R's garbage collections inside run() (gc_seconds)
    };
    Timing take_timing();
    // CPU time of the calling thread (for telling planning's own work from time the thread waited).
    static double thread_cpu_seconds();
    // The time R's garbage collector has taken in this session (gc.time(): whole milliseconds), for telling a
    // collection that happened to start during planning from planning's own work.
    static double gc_seconds();

private:
    CellEvaluator& evaluator_;
    RunOutputs& outputs_;
    GlobalState state_;
    std::map<std::uint64_t, BackgroundWrite> writes_; // by ticket
    std::uint64_t next_ticket_ = 0;
    Timing timing_;
    // The evaluator's count of evaluations when the global state last knew every tracked binding (after a restore
    // or a watched run that began knowing them): any evaluation since, unwatched, may have changed bindings.
    std::optional<std::uint64_t> known_at_evaluation_;
    bool cache_support_ = false;
};

} // namespace ripple::rbridge
