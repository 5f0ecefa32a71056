"""RunConfig: every setting of a run, validated, documented, loaded from TOML presets with --set overrides.

A config is plain nested dataclasses. Each field carries its help text and its allowed values in the field
metadata, so the validator can name the field and what is allowed whenever a value is wrong, and suggest the
closest key when a name is mistyped. (Longer than most modules: every setting of a run is declared here once,
with its help text and allowed values, and the rules between settings follow them.)
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import tomli_w

from . import encodings, tasks
from .errors import UserError, did_you_mean
from .options import build_dataclass, opt

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class EncodingConfig:
    input: str = opt("P1000", "number encoding of the matrix the model reads (P10, P1000, B1999, FP15, or xval: "
                              "one token per number whose embedding is scaled by the value, Golkar et al.)")
    output: str = opt("P1000", "number encoding of the matrix the model writes (P10, P1000, B1999, FP15)")
    input_layout: str = opt("full", "entries of the input the model reads: full (every entry, row by row: LAWT) or "
                                    "upper (a symmetric input's entries on and above the diagonal)",
                            choices=["full", "upper"])
    xval_scale: float = opt(10.0, "xval: the model reads value / xval_scale (LAWT's inputs, |x| <= 10, then lie in "
                                  "[-1, 1])", min=1e-12)


@dataclass
class ModelConfig:
    arch: str = opt("seq2seq", "model family: seq2seq (LAWT) or decoder (decoder-only; the one-layer "
                               "grokking model)", choices=["seq2seq", "decoder"])
    enc_layers: int = opt(2, "seq2seq: encoder layers", min=1, max=64)
    dec_layers: int = opt(2, "seq2seq: decoder layers", min=1, max=64)
    layers: int = opt(1, "decoder: transformer blocks", min=1, max=64)
    d_model: int = opt(256, "width of the residual stream", min=8, max=8192)
    n_heads: int = opt(8, "attention heads (must divide d_model)", min=1, max=128)
    d_ff: int = opt(0, "hidden width of the MLP; 0 means 4 * d_model", min=0, max=65536)
    dropout: float = opt(0.0, "dropout probability", min=0.0, max=0.9)
    share_embeddings: bool = opt(True, "one token embedding for the inputs and the output layer (LAWT); "
                                       "the grokking papers untie them")
    layernorm: bool = opt(True, "decoder: LayerNorm before attention, MLP and unembedding (false in the "
                                "grokking papers)")
    bias: bool = opt(True, "decoder: biases in attention and MLP layers")
    src_positions: str = opt("flat", "seq2seq: encoder positions: flat (LAWT: one learned embedding per token index) "
                                     "or 2d (learned embeddings of the entry's row, its column and the token's place "
                                     "in the number, summed)", choices=["flat", "2d"])
    reader: str = opt("tokens", "seq2seq: how the encoder reads the input matrix: tokens (LAWT: every number "
                                "written in encoding.input) or rows (one encoder token per matrix row: a linear map "
                                "of the row's numbers / model.number_scale, plus the row's learned position)",
                      choices=["tokens", "rows"])
    head: str = opt("tokens", "seq2seq: how the answer is written: tokens (LAWT: a decoder writing encoding.output) "
                              "or numbers (a number head: one learned query per output number through dec_layers "
                              "blocks, then a linear regression of number / model.head_scale; optim.loss "
                              "smooth_l1, mse or check)", choices=["tokens", "numbers"])
    number_scale: float = opt(10.0, "reader rows: the entries are divided by it on the way in (LAWT's entries, "
                                    "|x| <= 10, then lie in [-1, 1]); head numbers: the head's numbers are "
                                    "multiplied by it, unless model.head_scale says otherwise",
                              min=1e-12)
    head_scale: float = opt(0.0, "head numbers: the head's numbers are multiplied by it instead (0: number_scale; "
                                 "answers much larger than the entries, as products', want a larger one)", min=0.0)
    positions: str = opt("learned", "decoder: position embedding: learned (absolute), none, rotary, or abacus "
                                    "(McLeish et al.: ids by digit place; arithmetic only)",
                         choices=["learned", "none", "rotary", "abacus"])
    abacus_offset: int = opt(10, "abacus: training adds a random shift in [0, abacus_offset] to every digit's id, "
                                 "so that ids of longer numbers are trained (McLeish et al.: 100)", min=0, max=10000)
    activation: str = opt("relu", "MLP activation: relu, gelu (exact) or gelu_tanh (GPT-2's tanh approximation)",
                          choices=["relu", "gelu", "gelu_tanh"])
    unembed_bias: bool = opt(False, "decoder: a bias on the unembedding (imported models: -1e4 on the preset's "
                                    "tokens the model's own vocabulary lacks, so that it never writes them)")
    init: str = opt("gpt", "decoder's initial weights: gpt (normal, std 0.02), nanda (normal, std 1/sqrt(fan-in), "
                           "Nanda et al.'s grokking model) or torch (each torch module's own default: embeddings "
                           "normal with std 1, linear layers uniform in +-1/sqrt(fan-in), as in Grokfast's code)",
                    choices=["gpt", "nanda", "torch"])


@dataclass
class TrainConfig:
    max_examples: int = opt(1_000_000, "training examples in all (LAWT's 'epoch' is 300,000)", min=1)
    batch_size: int = opt(64, "examples per optimiser step", min=1, max=1 << 20)
    dataset_size: int = opt(0, "0: fresh problems for every batch; N: a fixed training set of N problems", min=0)
    repeat_size: int = opt(0, "two-set training (Charton & Kempe, arXiv 2410.07041): a fixed set of N problems "
                              "from which each example is drawn with probability repeat_frac, the others fresh; "
                              "0: off", min=0)
    repeat_frac: float = opt(0.0, "two-set training: the probability that an example is drawn from the repeated "
                                  "set (so its share of all examples, whatever the batch size)", min=0.0, max=1.0)
    on_nan: str = opt("stop", "a non-finite loss or gradient norm: stop (exit code 3; the last checkpoint is the "
                              "last good model) or skip (drop that step's update, counted in the metrics as "
                              "'skipped'; stop after nan_patience in a row)", choices=["stop", "skip"])
    nan_patience: int = opt(10, "on_nan = skip: stop after this many non-finite steps in a row", min=1)
    max_seconds: float = opt(0.0, "stop (with a checkpoint; `mathlens train RUN` continues) after this many "
                                  "seconds of training, evaluations not counted; 0: no limit", min=0.0)
    eval_every: int = opt(50_000, "examples between evaluations and checkpoints (steps for full-batch tasks)",
                          min=1)
    eval_size: int = opt(1000, "problems in the periodic test set", min=1)
    log_every: int = opt(50, "optimiser steps between training-metric records", min=1)
    max_steps: int = opt(10_000, "full-batch tasks (modular): optimiser steps in all", min=1)
    stop_acc: float = opt(0.0, "full-batch tasks: stop once test accuracy >= this for stop_patience evaluations "
                               "in a row; 0 never stops early", min=0.0, max=1.0)
    stop_patience: int = opt(3, "full-batch tasks: evaluations in a row at stop_acc before stopping", min=1)
    minibatch: int = opt(0, "full-batch tasks: 0 trains on the whole training split at every step; N on a random "
                            "minibatch of N of its examples (Grokfast's setting for its EMA filter)", min=0)
    measure_every: int = opt(0, "full-batch tasks: steps between Fourier progress measures; 0: at each "
                                "evaluation", min=0)
    init_from: str = opt("", "a run directory to take initial weights from (transfer, fine-tuning; "
                             "`mathlens train PRESET --from RUN` copies every part)")
    init_parts: list = opt(["embed"], "parts of init_from's model to copy",
                           choices=["embed", "pos", "blocks", "unembed"])
    freeze: bool = opt(False, "keep the copied parts fixed while training")
    wandb: bool = opt(False, "also log every record to Weights & Biases (pip install 'mathlens[wandb]'); a resumed run "
                             "continues the same wandb run")
    wandb_project: str = opt("mathlens", "wandb: the project")
    wandb_name: str = opt("", "wandb: the run's name; empty: the run directory's name")
    wandb_mode: str = opt("online", "wandb: online, or offline (written under RUN/wandb, no network; `wandb sync` "
                                    "uploads it later)", choices=["online", "offline"])
    device: str = opt("auto", "auto picks CUDA when present", choices=["auto", "cpu", "cuda"])
    precision: str = opt("auto", "auto: bf16 autocast on CUDA, fp32 on CPU", choices=["auto", "fp32", "bf16"])
    threads: int = opt(0, "CPU threads; 0 means one per available core", min=0, max=1024)
    compile: bool = opt(False, "torch.compile the model")
    overlap: str = opt("auto", "generate the next batch in a background thread during the step (pinned memory on "
                               "CUDA); auto: on CUDA only, as on the CPU the step already uses every core",
                       choices=["auto", "on", "off"])
    data_streams: int = opt(0, "independently seeded problem streams that make up each fresh batch, dealt out to "
                               "torchrun's ranks; 0: one per rank at the start (a resumed run keeps its streams, "
                               "so one process can continue a run of N ranks)", min=0, max=4096)


@dataclass
class OptimConfig:
    lr: float = opt(1e-4, "peak learning rate", min=0.0, max=10.0)
    min_lr: float = opt(0.0, "learning rate at the end of a cosine schedule", min=0.0, max=10.0)
    warmup: int = opt(1000, "linear warm-up steps", min=0)
    schedule: str = opt("cosine", "decay after warm-up", choices=["cosine", "inverse_sqrt", "constant"])
    clip: float = opt(5.0, "gradient norm clipping; 0 disables. With optim.grokfast it clips the amplified "
                           "gradient, which Grokfast's own code does not (the grok/ presets set 0)", min=0.0)
    optimizer: str = opt("adamw", "adamw; adam (torch's Adam: weight decay added to the gradient, L2, as in "
                                  "Grokfast's code, not AdamW's decoupled decay); or muon: torch's Muon "
                                  "(orthogonalised momentum) for the hidden matrices (attention, MLP) and AdamW for "
                                  "embeddings, unembedding, biases and norms",
                         choices=["adamw", "adam", "muon"])
    muon_lr: float = opt(0.02, "muon: learning rate of the hidden matrices (the schedule scales it as optim.lr)",
                         min=0.0, max=10.0)
    loss: str = opt("cross_entropy", "cross_entropy (token outputs); full-batch tasks: stablemax (StableMax "
                                     "cross-entropy, Prieto et al. 2025: no softmax collapse); a number head "
                                     "(model.head = numbers): smooth_l1 or mse on the scaled numbers, or check (the "
                                     "task's check as the loss: LAWT's d1 error, against the target or, for "
                                     "inversion and eigenvectors, with none)",
                    choices=["cross_entropy", "stablemax", "smooth_l1", "mse", "check"])
    perp_grad: bool = opt(False, "full-batch tasks: the perpendicular gradient (Prieto et al.'s ⊥Grad): each "
                                 "gradient loses its component along its weights, rescaled to its norm")
    weight_decay: float = opt(0.0, "weight decay of the matrices (decoupled with adamw and muon, L2 with adam)",
                              min=0.0)
    beta1: float = opt(0.9, "AdamW beta1", min=0.0, max=1.0)
    beta2: float = opt(0.999, "AdamW beta2", min=0.0, max=1.0)
    grokfast: str = opt("none", "gradient filter of Grokfast (arXiv 2405.20233): ma (moving average; the one "
                                "that speeds up full-batch grokking here) or ema",
                        choices=["none", "ema", "ma"])
    grokfast_alpha: float = opt(0.98, "grokfast ema: momentum of the gradient average", min=0.0, max=1.0)
    grokfast_lamb: float | str = opt("auto", "grokfast: amplification of the slow gradient component, a number "
                                           ">= 0 (0 adds nothing), or auto: the authors' value (2 for ema, 5 for ma)",
                                     min=0.0)
    grokfast_window: int = opt(100, "grokfast ma: window of the moving average, in steps", min=1)

    def describe(self) -> str:
        """The optimiser that runs, in words, for reports: 'AdamW lr 0.001, wd 1.0', 'Muon lr 0.02 on the hidden
        matrices + AdamW lr 0.001, wd 1.0, loss stablemax', ..."""
        name = {"adamw": "AdamW", "adam": "Adam (L2 decay)",
                "muon": f"Muon lr {self.muon_lr} on the hidden matrices + AdamW"}[self.optimizer]
        extras = ([f"loss {self.loss}"] if self.loss != "cross_entropy" else []) + \
            (["⊥Grad"] if self.perp_grad else []) + \
            ([f"Grokfast-{self.grokfast.upper()}"] if self.grokfast != "none" else [])
        return ", ".join([f"{name} lr {self.lr}", f"wd {self.weight_decay}", *extras])


@dataclass
class DataConfig:
    train_file: str = opt("", "train on the problems of this file (.parquet, .jsonl, or LAWT .txt: `mathlens data` "
                              "writes them) as a fixed set reshuffled each epoch, instead of generating them")


@dataclass
class EvalConfig:
    size: int = opt(10_000, "test problems for `mathlens eval`", min=1)
    seed: int = opt(1234, "seed of the test set (separate from the training seed)", min=0)
    batch_size: int = opt(500, "problems decoded at once", min=1)
    beam: int = opt(1, "beam size; 1 is greedy decoding", min=1, max=64)


@dataclass
class RunConfig:
    description: str = opt("", "one line saying what this run is")
    seed: int = opt(0, "fixes the training data and the initial weights", min=0)
    task: dict = opt({"name": "transpose"}, "task name and its options (see `mathlens presets --task NAME`)")
    encoding: EncodingConfig = field(default_factory=EncodingConfig, metadata={"help": "number encodings"})
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"help": "the transformer"})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"help": "training length, data, device"})
    optim: OptimConfig = field(default_factory=OptimConfig, metadata={"help": "optimiser and schedule"})
    eval: EvalConfig = field(default_factory=EvalConfig, metadata={"help": "evaluation"})
    data: DataConfig = field(default_factory=DataConfig, metadata={"help": "training data from a file"})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def build_task(self):
        options = {k: v for k, v in self.task.items() if k != "name"}
        return tasks.get(self.task["name"], **options)


# ----------------------------------------------------------------------------------------------- validation


def _validate_run(cfg: RunConfig) -> None:
    if "name" not in cfg.task:
        raise UserError("task.name: missing; choose from " + ", ".join(tasks.REGISTRY))
    task = cfg.build_task()  # validates task options
    if task.arch != cfg.model.arch:
        raise UserError(f"model.arch: task {task.name!r} is trained with model.arch=\"{task.arch}\"")
    for side in ("input", "output"):
        try:
            encodings.get(getattr(cfg.encoding, side))
        except UserError as e:
            raise UserError(f"encoding.{side}: {e}") from None
    e, m, t = cfg.encoding, cfg.model, cfg.train
    if task.family != "matrix":  # the other families write their own tokens
        default = dataclasses.asdict(EncodingConfig())
        changed = [f"encoding.{k}" for k, v in dataclasses.asdict(e).items() if v != default[k]]
        if changed or m.src_positions != "flat":
            raise UserError(f"{changed[0] if changed else 'model.src_positions'}: number encodings and "
                            f"model.src_positions are for matrix tasks; task {task.name!r} writes its own tokens")
    reals = [n for n in encodings.REGISTRY if not encodings.get(n).integers_only]
    for side, name in (("input", e.input), ("output", e.output)):
        allowed = [n for n in reals if side == "input" or not encodings.get(n).continuous]
        if name not in allowed:
            why = ("xval is an input encoding (a [NUM] token holds no value to write)" if name == "xval" else
                   f"{name} writes integers only, and task {task.name!r} has real numbers")
            raise UserError(f"encoding.{side}: {why}; choose from {', '.join(allowed)}")
    if e.input_layout == "upper" and not getattr(task, "symmetric", False):
        raise UserError(f"encoding.input_layout: 'upper' writes half of a symmetric input; task {task.name!r} reads "
                        f"general matrices (upper applies to eigenvalues, eigenvectors and syminverse)")
    if (t.repeat_size > 0) != (t.repeat_frac > 0):
        raise UserError(f"train.repeat_frac: two-set training needs both train.repeat_size > 0 and "
                        f"0 < train.repeat_frac <= 1 (got repeat_size={t.repeat_size}, repeat_frac={t.repeat_frac})")
    if task.family == "modular" and (t.repeat_size or t.max_seconds):
        raise UserError(f"train.{'repeat_size' if t.repeat_size else 'max_seconds'}: task {task.name!r} trains "
                        f"full-batch on its whole training split, stopped by train.max_steps or train.stop_acc")
    if cfg.data.train_file and (t.dataset_size or t.repeat_size or task.family == "modular"):
        raise UserError(f"data.train_file: a file is the whole training set; it does not combine with "
                        f"train.dataset_size, train.repeat_size or a modular task (got task {task.name!r})")
    o = cfg.optim
    if task.family != "modular" and (o.loss == "stablemax" or o.perp_grad or t.minibatch):
        what = "optim.loss" if o.loss == "stablemax" else "optim.perp_grad" if o.perp_grad else "train.minibatch"
        raise UserError(f"{what}: an option of the full-batch trainer (modular tasks); task {task.name!r} streams "
                        f"its batches")
    _validate_number_io(task, cfg)
    if isinstance(o.grokfast_lamb, str) and o.grokfast_lamb != "auto":
        raise UserError(f"optim.grokfast_lamb: {o.grokfast_lamb!r} is not allowed; a number >= 0, or \"auto\" (the "
                        f"authors' value: 2 for ema, 5 for ma)")
    if o.perp_grad and o.optimizer == "muon":
        raise UserError("optim.perp_grad: ⊥Grad projects AdamW's gradients; Muon orthogonalises its own update "
                        "(choose one: optim.optimizer = \"adamw\" or optim.perp_grad = false)")
    if t.repeat_size and t.dataset_size:
        raise UserError("train.repeat_size: two-set training mixes a repeated set with fresh problems; it does not "
                        "combine with a fixed training set (train.dataset_size)")
    if m.positions == "abacus" and task.family != "digits":
        raise UserError(f"model.positions: abacus ids are digit places, for arithmetic runs; task {task.name!r} "
                        f"takes learned, none or rotary")
    if m.d_model % m.n_heads:
        raise UserError(f"model.n_heads: {m.n_heads} does not divide model.d_model={m.d_model}")
    if cfg.optim.min_lr > cfg.optim.lr:
        raise UserError(f"optim.min_lr: {cfg.optim.min_lr} is above optim.lr={cfg.optim.lr}")


def _validate_number_io(task, cfg: RunConfig) -> None:
    """Row readers and number heads: matrix tasks only, each with what it combines with."""
    m, e, o = cfg.model, cfg.encoding, cfg.optim
    if task.family != "matrix" and (m.reader != "tokens" or m.head != "tokens"):
        raise UserError(f"model.{'reader' if m.reader != 'tokens' else 'head'}: rows and numbers are for matrix "
                        f"tasks; task {task.name!r} writes its own tokens")
    if m.reader == "rows" and (e.input_layout != "full" or m.src_positions != "flat" or e.input == "xval"):
        what = ("encoding.input_layout" if e.input_layout != "full" else "model.src_positions"
                if m.src_positions != "flat" else "encoding.input")
        raise UserError(f"{what}: model.reader = \"rows\" reads every entry's value, row by row; it does not "
                        f"combine with input_layout upper, 2d positions or xval")
    regression = o.loss in ("smooth_l1", "mse", "check")
    if task.family == "matrix" and regression != (m.head == "numbers"):
        raise UserError(f"optim.loss: {o.loss!r} " + ("is a regression loss; it trains a number head (model.head = "
                        "\"numbers\")" if regression else "does not train a number head: choose smooth_l1, mse or "
                        "check"))


# What a resumed run may change (--set on `mathlens train RUN`): how long and how it runs, never what it learns
RESUME_MAY_CHANGE = {"train.max_examples", "train.eval_every", "train.log_every", "train.threads", "train.device",
                     "train.max_steps", "train.stop_acc", "train.stop_patience", "train.measure_every",
                     "train.overlap", "train.compile", "train.max_seconds", "train.on_nan", "train.nan_patience",
                     "train.wandb", "train.wandb_project", "train.wandb_name", "train.wandb_mode",
                     "description"}


def resumed(cfg: RunConfig, overrides: list[str]) -> RunConfig:
    """A run's config with the ``--set`` overrides of a resume applied, or one line naming the first key that
    may not change (:data:`RESUME_MAY_CHANGE`)."""
    old = cfg.to_dict()
    new = config_from_dict(apply_overrides(old, overrides))
    before = _flat(old)
    changed = {k for k, v in _flat(new.to_dict()).items() if before.get(k) != v}
    if changed - RESUME_MAY_CHANGE:
        bad = sorted(changed - RESUME_MAY_CHANGE)[0]
        raise UserError(f"--set {bad}: cannot change an existing run's {bad}; "
                        f"only {', '.join(sorted(RESUME_MAY_CHANGE))} may change on resume")
    return new


def _flat(d: dict, prefix="") -> dict:
    """{'train': {'lr': 1}} -> {'train.lr': 1}"""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_from_dict(data: dict) -> RunConfig:
    cfg = build_dataclass(RunConfig, data)
    _validate_run(cfg)
    return cfg


# ------------------------------------------------------------------------------------ presets and overrides

PRESET_ROOT = resources.files("mathlens") / "presets"


def preset_names() -> list[str]:
    root = Path(str(PRESET_ROOT))
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.toml"))


def load_preset(name: str) -> dict:
    """A preset's settings. ``base = "other/preset"`` in a preset starts from that preset's settings (one level:
    a base has no base of its own) and states only what differs; tables merge key by key, the rest replaces."""
    data = _preset_file(name)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise UserError(f"preset {name}: base: expected a preset name, got {base!r}")
    parent = _preset_file(base, f"preset {name}: base: ")
    if "base" in parent:
        raise UserError(f"preset {name}: base {base!r} has a base of its own ({parent['base']!r}); one level only")
    return _merge(parent, data)


def _preset_file(name: str, where: str = "") -> dict:
    names = preset_names()
    if name not in names:
        raise UserError(f"{where}unknown preset {name!r}{did_you_mean(name, names, n=3)}; see `mathlens presets`")
    return tomllib.loads((Path(str(PRESET_ROOT)) / f"{name}.toml").read_text())


def _merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``: nested tables merged key by key, any other value replaced."""
    out = _deepcopy(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def parse_override(item: str) -> tuple[str, object]:
    """'train.lr=3e-4' -> ('train.lr', 0.0003). Values are TOML; anything that is not TOML is a string."""
    if "=" not in item:
        raise UserError(f"--set {item!r}: expected key=value, e.g. train.lr=3e-4")
    key, raw = item.split("=", 1)
    key, raw = key.strip(), raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def apply_overrides(data: dict, items: list[str]) -> dict:
    """Set dotted keys in a nested dict; unknown sections and keys are caught by validation later."""
    data = _deepcopy(data)
    for item in items:
        key, value = parse_override(item)
        parts = key.split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            sub = node.setdefault(part, {})
            if not isinstance(sub, dict):
                raise UserError(f"--set {key}: {'.'.join(parts[: i + 1])} is not a section")
            node = sub
        node[parts[-1]] = value
    return data


def _deepcopy(d):
    return {k: _deepcopy(v) for k, v in d.items()} if isinstance(d, dict) else d


def resolve(preset: str, overrides: list[str] = ()) -> RunConfig:
    """Preset name + --set overrides -> a validated RunConfig."""
    return config_from_dict(apply_overrides(load_preset(preset), list(overrides)))


def load_config_file(path: Path) -> RunConfig:
    try:
        data = tomllib.loads(Path(path).read_text())
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: not valid TOML ({e})") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    return config_from_dict(data)
