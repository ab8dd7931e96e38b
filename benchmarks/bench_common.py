"""The harness the benchmark scripts share: thread pinning, the device, the one timing loop
(measure), result checks, minigan's GAN and its steps (the one place benchmarks call them),
Markdown tables and the machine's description.

Imports no NumPy at module level: `prepare_script` decides what is imported first. Thread counts
are set at run time (`pinned_threads`), never through environment variables, as in a user's
script.
"""
import contextlib
import dataclasses
import os
import platform
import sys
from collections.abc import Callable

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLAS_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
THREAD_ENV_VARS = BLAS_ENV_VARS + ("NUMBA_NUM_THREADS",)
TOLERANCE = 1e-4  # largest relative difference of two engines' results that counts as equal


IMPORT_ORDERS = {"user": "NumPy and torch imported before minigan, as in a user's script",
                 "minigan-first": "minigan imported before NumPy and torch"}


def option_from_argv(argv, name, default):
    """The value of option `name` (e.g. "--import-order"), read before argparse runs."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


def add_import_order(parser):
    parser.add_argument("--import-order", choices=tuple(IMPORT_ORDERS), default="user",
                        help="user (default): import NumPy and torch before minigan, as a "
                             "user's script does; minigan-first: the other way round")


def prepare_script(argv):
    """For a script run from the command line, before anything imports NumPy: imports NumPy and
    torch (where installed) before minigan, or minigan first with --import-order minigan-first,
    then makes minigan's heap setting, as its trainer does. Sets no environment variable."""
    sys.path.insert(0, REPO_ROOT)  # import minigan from the checkout
    if option_from_argv(argv, "--import-order", "user") == "minigan-first":
        import minigan  # noqa: F401
    import numpy  # noqa: F401
    with contextlib.suppress(ImportError):
        import torch  # noqa: F401
    from minigan import backend
    backend.keep_freed_memory_in_heap()   # as a training loop does (minigan's trainer calls it)


@contextlib.contextmanager
def pinned_threads(torch, n, numba=None):
    """torch, every loaded OpenBLAS and (when given) Numba on n threads inside the block, restored
    after. Yields a note saying what NumPy's BLAS got (for the report)."""
    from minigan.threads import OpenBLAS
    blas = OpenBLAS()
    previous = (torch.get_num_threads(), numba and numba.get_num_threads(), blas.get())
    torch.set_num_threads(n)
    if numba is not None:
        try:
            numba.set_num_threads(n)
        except ValueError:  # above NUMBA_NUM_THREADS, fixed when Numba was imported
            print(f"warning: Numba was started with {numba.config.NUMBA_NUM_THREADS} threads; "
                  f"cannot use {n}", file=sys.stderr)
    blas.set([n] * len(blas.libs))
    note = (f"NumPy OpenBLAS {blas.get()[0]}" if blas.libs else "NumPy BLAS by environment "
            f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")
    try:
        yield note
    finally:
        torch.set_num_threads(previous[0])
        if numba is not None:
            with contextlib.suppress(ValueError):
                numba.set_num_threads(previous[1])
        blas.set(previous[2])


def missing_torch(script):
    """Exits with status 2 and one line when torch is not installed; else returns torch."""
    try:
        import torch
    except ImportError:
        print(f"{script} needs torch: pip install -e \".[bench]\"", file=sys.stderr)
        sys.exit(2)
    return torch


class Device:
    """minigan's device name, PyTorch's, the array module, and how to wait for each engine."""

    def __init__(self, name, torch):
        import minigan as mg
        self.name = name
        if name == "gpu":
            mg.set_device("gpu")  # raises mg.DeviceError saying what is missing (CuPy, a GPU)
            if not torch.cuda.is_available():
                raise mg.DeviceError(f"torch {torch.__version__} sees no CUDA GPU (a CPU-only "
                                     "build, or no driver); --device gpu needs a CUDA build")
            import cupy
            self.minigan, self.torch, self.xp = "gpu", "cuda", cupy
            # float32 on both sides: PyTorch lets cuDNN convolutions use TF32 tensor cores by
            # default (10-bit mantissas), CuPy's cuBLAS calls do not
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False

            def wait():
                cupy.cuda.get_current_stream().synchronize()
            self.sync = {"minigan": wait, "array": wait, "torch": torch.cuda.synchronize}
            self.description = (f"GPU {torch.cuda.get_device_name()} | cupy {cupy.__version__}"
                                f" | CUDA (torch) {torch.version.cuda} | TF32 off")
        else:
            import numpy
            mg.set_device("cpu")
            self.minigan, self.torch, self.xp = "cpu", "cpu", numpy
            self.sync = {}
            self.description = "CPU"


@contextlib.contextmanager
def on_device(name, torch):
    """The Device called `name` inside the block, minigan's device restored after; exits with
    status 2 and one line when the device is missing."""
    import minigan as mg
    previous = mg.get_device()
    try:
        try:
            dev = Device(name, torch)
        except mg.DeviceError as exc:
            print(f"error: --device {name}: {exc}", file=sys.stderr)
            sys.exit(2)
        yield dev
    finally:
        mg.set_device(previous)


def parse_checked(parser, argv, warmup=None):
    """parser.parse_args(argv), refusing --threads or --repeats below 1; warmup: the default of
    --warmup as (with --quick, without)."""
    args = parser.parse_args(argv)
    if args.threads < 1 or (args.repeats is not None and args.repeats < 1):
        parser.error("--threads and --repeats must be at least 1")
    if warmup and args.warmup is None:
        args.warmup = warmup[0] if args.quick else warmup[1]
    return args


def copy_weights(module, twin):
    """A minigan module's parameters and buffers into its PyTorch twin, in order, each shape
    checked: the two name their layers differently, but both list a module's tensors in the
    order its layers run (each layer's parameters, then its buffers)."""
    import torch
    ours, theirs = list(module.named_tensors()), twin.state_dict()
    if len(ours) != len(theirs):
        raise ValueError(f"{len(ours)} tensors in minigan's {type(module).__name__}, "
                         f"{len(theirs)} in the PyTorch twin's")
    state = {}
    for (name, tensor), (twin_name, target) in zip(ours, theirs.items()):
        if tuple(tensor.shape) != tuple(target.shape):
            raise ValueError(f"minigan's {name} {tuple(tensor.shape)} does not fit the twin's "
                             f"{twin_name} {tuple(target.shape)}")
        state[twin_name] = torch.from_numpy(tensor.numpy())
    twin.load_state_dict(state)


def host(x):
    """A NumPy copy of a minigan or torch tensor (torch's .numpy() would share the memory)."""
    import numpy as np

    import minigan
    return x.numpy() if isinstance(x, minigan.Tensor) else np.array(x.detach().cpu().numpy(),
                                                                     copy=True)


def rel_diff(a, b):
    """max |a - b| relative to max |b|, in float64."""
    import numpy as np
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max()) / max(float(np.abs(b).max()), 1e-12)


def diff_check(pairs, tolerance=TOLERANCE):
    """(text, ok) for the worst pair of [(minigan's array, the other engine's)]."""
    worst = max(rel_diff(a, b) for a, b in pairs)
    return f"max rel. diff {worst:.1e}", worst <= tolerance


def _nothing():
    pass


@dataclasses.dataclass(kw_only=True)
class Case:
    """The same work in each engine. engines: {name: fn}, the one the ratios compare against
    last; reset runs untimed before each call; check() -> (text, ok) compares the engines'
    results before anything is timed (None: nothing to compare); warmup_engines (default:
    engines) run in the warm-up; after_warmup runs once, untimed, between the warm-up and the
    timed rounds (to zero a counter, or install a profiler's timers)."""

    engines: dict
    check: Callable = None
    what: str = ""
    reset: Callable = _nothing
    warmup_engines: dict = None
    after_warmup: Callable = _nothing


def measure(case, warmup, repeats, sync=None):
    """The benchmarks' one timing loop. Interleaved timings in seconds, {engine: [...]}: warm-up
    rounds, then rounds that call every engine once, the one that goes first rotating, each call
    timed alone (case.reset and the waits outside the clock). sync: {engine: fn} waiting for the
    engine's queued GPU work, before the clock starts and before it is read."""
    import gc
    import time
    engines = list(case.engines)
    wait = {name: (sync or {}).get(name, _nothing) for name in engines}
    warm = case.warmup_engines or case.engines
    for _ in range(warmup):
        for name in engines:
            case.reset()
            warm[name]()
            wait[name]()
    case.after_warmup()
    times = {name: [] for name in engines}
    gc.collect()
    for i in range(repeats):
        k = i % len(engines)
        for name in engines[k:] + engines[:k]:
            case.reset()
            wait[name]()
            t0 = time.perf_counter()
            case.engines[name]()
            wait[name]()
            times[name].append(time.perf_counter() - t0)
    case.reset()
    return times


def quartiles(samples):
    """(p25, median, p75) of timings, as floats."""
    import numpy as np
    return tuple(float(q) for q in np.percentile(samples, [25, 50, 75]))


# The GAN: benchmarks build minigan's models and call its two training steps only through
# minigan_models and minigan_steps (the PyTorch twin's models and steps are in torch_gan.py);
# schedule_steps makes one iteration of a schedule from either engine's steps.
SCHEDULES = ("standard", "original")


def minigan_models(recipe, device="cpu", seed=0):
    """minigan's G and D for `recipe` on `device`, initialised from `seed`, and make_optimizers'
    two Adams: (G, D, opt_d, opt_g)."""
    import minigan as mg
    from minigan import build, gan
    mg.manual_seed(seed)
    G = build.build_generator(recipe).to(device)
    D = minigan_discriminator(recipe, device)
    return (G, D, *gan.make_optimizers(G, D, recipe))


def minigan_discriminator(recipe, device="cpu"):
    """minigan's D alone for `recipe` on `device`, its weights drawn from minigan's generator as
    it stands (not reseeded)."""
    from minigan import build
    return build.build_discriminator(recipe).to(device)


def without_dropout(D, tD=None):
    """The discriminators without their dropout: minigan's fused LeakyReLUDropout becomes
    LeakyReLU, the PyTorch twin's Dropout (if given) an Identity."""
    import minigan as mg
    for i, layer in enumerate(D.features):
        if isinstance(layer, mg.nn.LeakyReLUDropout):
            setattr(D.features, str(i), mg.nn.LeakyReLU(layer.alpha))
    if tD is not None:
        import torch
        for i, layer in enumerate(tD.features):
            if isinstance(layer, torch.nn.Dropout):
                tD.features[i] = torch.nn.Identity()


def minigan_steps(G, D, opt_d, opt_g, recipe, noise_std=0.0, labels=None, batch=None):
    """minigan's two training steps with all but the batch bound, as torch_gan.twin_steps:
    d_step(real, n_fake=None) (real None: fakes only; n_fake 0: the real batch only) and
    g_step(real). Each returns what minigan.gan's step returns (a one-sided D step: its loss).
    `batch`: where the steps draw and average (default one process's; a data-parallel rank's
    minigan.distributed.GlobalBatch)."""
    from minigan import build, gan
    from minigan.autograd import Tensor
    from minigan.batch import LOCAL_BATCH
    rules = build.rules(recipe, noise_std, batch or LOCAL_BATCH)
    G, D = build.networks_given(recipe)(G, D, labels)

    def d_step(real, n_fake=None):
        real = real if real is None or isinstance(real, Tensor) else Tensor(real)
        if n_fake is None:
            return gan.discriminator_step(G, D, opt_d, real, rules)
        loss = gan.real_loss(D, real, rules)[0] if n_fake == 0 \
            else gan.fake_loss(G, D, n_fake, rules)[0]
        gan.adam_step(opt_d, loss)
        return loss.data

    def g_step(real):
        return gan.generator_step(G, D, opt_g, real, rules)

    return d_step, g_step


def schedule_steps(d_step, g_step, real, schedule="standard"):
    """One iteration of `schedule` on the batch `real`, as (D step, G step), two calls of no
    argument, from an engine's bound steps (minigan_steps, torch_gan.twin_steps). The standard
    schedule steps D once, on `real` and as many fresh fakes; the original schedule (the Keras
    script's) steps it twice, on `real` alone, then on as many fakes alone."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}: one of {SCHEDULES}")
    if schedule == "original":
        def d():
            d_step(real, 0)
            d_step(None, real.shape[0])
    else:
        def d():
            d_step(real)

    def g():
        g_step(real)

    return d, g


def cpu_model():
    from minigan.run_report import cpu_model
    return cpu_model()


def machine():
    return (f"machine: {cpu_model()} ({os.cpu_count()} logical cores), {platform.system()} "
            f"{platform.release()}")


def versions(torch, numba):
    import numpy as np

    import minigan as mg
    return (f"python {platform.python_version()} | numpy {np.__version__} | numba "
            f"{numba.__version__} | torch {torch.__version__} | minigan {mg.__version__}")


def load_average():
    try:
        return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "load average unknown"


def fmt(seconds, unit=None):
    """Format in µs below 1 ms, else in ms; `unit` forces one (to print a range in one unit)."""
    unit = unit or ("µs" if seconds < 1e-3 else "ms")
    value = seconds * (1e6 if unit == "µs" else 1e3)
    return f"{value:.{2 if value < 10 else 1 if value < 100 else 0}f}", unit


def cell(samples):
    p25, p50, p75 = quartiles(samples)
    median, unit = fmt(p50)
    return f"{median} {unit} ({fmt(p25, unit)[0]}–{fmt(p75, unit)[0]})"


def ratio(times, engine, other):
    """median(engine) / median(other): above 1, `engine` is slower."""
    import numpy as np
    return float(np.median(times[engine]) / np.median(times[other]))


def table(header, rows):
    """A Markdown table, as a list of lines."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]
