"""gan_bench.py's report: Markdown tables of the timings, GFLOP/s and peak memory, and a chart of
the ratios minigan / PyTorch."""
import numpy as np

from bench_common import cell, ratio, table


def _ratio(result):
    times = result["times"]
    return ratio(times, "minigan", "torch") if "minigan" in times else None


def _rate(result, engine, peak=None):
    """Achieved GFLOP/s of an engine (at its median), with its share of `peak` when given."""
    if not result["flops"]:
        return "–"
    if engine not in result["times"]:
        return "n/a"
    rate = result["flops"] / float(np.median(result["times"][engine])) / 1e9
    return f"{rate:.1f}" + (f" ({rate / peak:.0%})" if peak else "")


def _timing_cells(result):
    times, r = result["times"], _ratio(result)
    return (cell(times["minigan"]) if r is not None else "n/a", cell(times["torch"]),
            f"{r:.2f}x" if r is not None else "–")


def _rate_cell(samples):
    p25, p50, p75 = np.percentile(samples, [25, 50, 75])
    return f"{p50:.1f} ({p25:.1f}–{p75:.1f})"


def _mib(value):
    return f"{value:.0f} MiB"


def memory_lines(memories):
    """The peak-memory section, from gan_memory.measure_both's results, one per model: a list of
    (case name, result)."""
    done = [(name, m) for name, m in memories if "error" not in m]
    lines = ["", "## Peak memory", ""]
    lines += [f"{name}: not measured: {m['error']}" for name, m in memories if "error" in m]
    if not done:
        return lines
    steps, gpu = done[0][1]["steps"], "gpu_mib" in done[0][1]["minigan"]
    lines += [f"Each engine and model alone in a child process: 1 + {steps} (D step, G step) "
              "pairs of the model's schedule; peak RSS (VmHWM) once the engine is imported and at "
              "the end, and their difference, what the training loop added. The PyTorch child's "
              "models keep their own initialisation (values do not change memory)."
              + (" GPU: CuPy's memory pool total, torch.cuda.max_memory_reserved()."
                 if gpu else ""), ""]
    rows = []
    for name, memory in done:
        m, t = memory["minigan"], memory["torch"]
        loop_m, loop_t = (r["rss_peak_mib"] - r["rss_import_mib"] for r in (m, t))
        rows.append((name, _mib(m["rss_import_mib"]), _mib(t["rss_import_mib"]),
                     _mib(m["rss_peak_mib"]), _mib(t["rss_peak_mib"]),
                     f"{m['rss_peak_mib'] / t['rss_peak_mib']:.2f}x", _mib(loop_m), _mib(loop_t),
                     f"{loop_m / max(loop_t, 1e-9):.2f}x")
                    + ((_mib(m["gpu_mib"]), _mib(t["gpu_mib"]),
                        f"{m['gpu_mib'] / max(t['gpu_mib'], 1e-9):.2f}x") if gpu else ()))
    return lines + table(("case", "minigan after import", "PyTorch after import",
                          "minigan peak", "PyTorch peak", "peak ratio", "minigan peak − import",
                          "PyTorch peak − import", "loop ratio")
                         + (("minigan GPU", "PyTorch GPU", "GPU ratio") if gpu else ()), rows)


def report_tables(results, gemm, memory, args, dev):
    """The report's sections after its header: layers, whole model, GEMM rates, memory."""
    lines = ["", "warm-up rounds first, then timed rounds interleaved (order rotating); median "
             "(p25–p75); ratio = median(minigan) / median(PyTorch): above 1, minigan is slower"]
    layers = [r for r in results if r["kind"] == "layer"]
    if layers:
        lines += ["", f"## Layers (batch {args.layer_batch})", ""]
        lines += table(("case", "what", "rounds", "minigan", "PyTorch", "minigan / PyTorch",
                        "minigan GFLOP/s", "PyTorch GFLOP/s", "check"),
                       [(r["name"], r["what"], r["repeats"], *_timing_cells(r),
                         _rate(r, "minigan"), _rate(r, "torch"), r["check"]) for r in layers])
    models = [r for r in results if r["kind"] != "layer"]
    if models:
        peak = max(float(np.median(r)) for _, s in gemm for r in s.values())
        lines += ["", "## Whole model (train mode; the seed recipe unless the case names "
                  "another)", "",
                  "GFLOP: the step's GEMMs (2·M·N·K each: a layer's forward GEMM, plus in "
                  "backward its input-gradient and weight-gradient GEMMs where they are needed; "
                  "elementwise work is not counted; the train-step cases count minigan's layer "
                  "products in one step, convolutions as a direct evaluation does, so Winograd's "
                  "layers count more than they compute). In parentheses: the share of the best "
                  f"GEMM rate measured below (either library), {peak:.1f} GFLOP/s.", ""]
        lines += table(("case", "what", "rounds", "minigan", "PyTorch", "minigan / PyTorch",
                        "GFLOP", "minigan GFLOP/s", "PyTorch GFLOP/s", "check"),
                       [(r["name"], r["what"], r["repeats"], *_timing_cells(r),
                         "–" if r["flops"] is None else f"{r['flops'] / 1e9:.2f}",
                         _rate(r, "minigan", peak),
                         _rate(r, "torch", peak), r["check"]) for r in models])
        lines += ["", f"The machine's float32 GEMM rate at {args.threads} threads, GFLOP/s, "
                  "median (p25–p75):", ""]
        lines += table(("GEMM", f"{dev.xp.__name__} @", "torch.matmul"),
                       [(what, _rate_cell(s["array"]), _rate_cell(s["torch"]))
                        for what, s in gemm])
    return lines + (memory_lines(memory) if memory else [])


def write_chart(path, results, memory, title):
    """Horizontal bars of minigan / PyTorch, log scale, a line at 1 (equal)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"layer": "tab:blue", "step": "tab:orange", "epoch": "tab:red",
              "memory": "tab:green"}
    bars = [(r["name"], _ratio(r), r["kind"]) for r in results if _ratio(r) is not None]
    for name, m in memory or []:
        if "error" not in m:
            bars.append((f"{name} (peak RSS)", m["minigan"]["rss_peak_mib"]
                         / m["torch"]["rss_peak_mib"], "memory"))
    if not bars:
        return False
    bars = bars[::-1]  # barh draws bottom-up: keep the table's order top-down
    fig, ax = plt.subplots(figsize=(8, 0.26 * len(bars) + 1.6))
    ax.barh([b[0] for b in bars], [b[1] - 1 for b in bars], left=1,  # from 1: equal time
            color=[colors[b[2]] for b in bars])
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=1)
    ratios = [b[1] for b in bars]
    ax.set_xlim(min(ratios + [1]) / 1.6, max(ratios + [1]) * 1.6)  # room for the labels
    for y, r in enumerate(ratios):
        ax.text(r, y, f" {r:.2f} ", va="center", ha="left" if r >= 1 else "right", fontsize=7)
    ax.set_xlabel("minigan / PyTorch: time (peak RSS for memory); above 1, minigan needs more")
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
