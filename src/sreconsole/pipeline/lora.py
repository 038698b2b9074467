"""The LoRA pipeline: fine-tune a small LLM with mlx-lm to answer an alert with one catalog
action, then hand it to MLflow, the artifact store and Ollama.

The eight steps are those of the TRM (:mod:`sreconsole.pipeline.steps`); the dataset split,
the artifact tarball and the MLflow location are the TRM's own code. What differs:

- the model answers in text, ``action: <id> <param>=<value> ...``, and an answer is judged by
  :func:`judge_answer` against the catalog (valid action, and safe: nothing outside it);
- ``base = "demo-tiny"`` builds a randomly initialised 2-layer llama and a tokenizer trained
  on the dataset, locally, so the whole path runs with no download. It learns the format at
  best; its metrics are near zero and the run is marked demo;
- a base given as a path is a local Hugging Face directory, read with ``HF_HUB_OFFLINE=1``.

Heavy imports (MLX, mlx-lm, transformers, MLflow) happen inside the step that needs them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sreconsole.domain.text import redact_url
from sreconsole.pipeline.steps import (
    StepContext,
    StepFailed,
    StepResult,
    _load_splits,
    log_to_mlflow,
    prepare_dataset,
    sha256_file,
    store_artifacts,
)

EXPERIMENT = "sreconsole-lora"
REGISTERED_MODEL = "sreconsole-lora"
DEMO_BASE = "demo-tiny"
DATA_DIR = "lora-data"
"""mlx-lm's layout: ``train.jsonl``, ``valid.jsonl``, ``test.jsonl`` in one directory."""
LORA_SPLITS = {"train": "train.jsonl", "validation": "valid.jsonl", "test": "test.jsonl"}
DEFAULT_CAPS = {"train": 200, "validation": 40, "test": 40}
GGUF_ARCHITECTURES = ("llama", "mistral", "mixtral")
"""What ``mlx_lm.fuse --export-gguf`` converts (its own check, repeated so we can skip)."""
SYSTEM_PROMPT = (
    "You are the sreconsole triage assistant. Answer an alert with exactly one line: "
    "'action: <catalog action id> <parameter>=<value> ...'. Propose only actions from the "
    "sreconsole catalog; never write shell commands."
)
USER_TAG, ASSISTANT_TAG, SYSTEM_TAG, EOS = "<|user|>", "<|assistant|>", "<|system|>", "</s>"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}" + SYSTEM_TAG + "{{ message['content'] }}\n"
    "{% elif message['role'] == 'user' %}" + USER_TAG + "{{ message['content'] }}\n"
    "{% else %}" + ASSISTANT_TAG + "{{ message['content'] }}" + EOS + "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}" + ASSISTANT_TAG + "{% endif %}"
)
"""The demo tokenizer's chat format; the Ollama TEMPLATE below is the same in Go syntax."""
OLLAMA_TEMPLATE = (
    "{{ if .System }}" + SYSTEM_TAG + "{{ .System }}\n{{ end }}"
    + USER_TAG + "{{ .Prompt }}\n" + ASSISTANT_TAG + "{{ .Response }}" + EOS
)


# -- answers: format, validity, safety ------------------------------------------------------


def format_answer(action_id: str, params: dict[str, str]) -> str:
    """The one line the model is taught to write, parameters in a fixed (sorted) order."""
    return " ".join([f"action: {action_id}", *(f"{k}={v}" for k, v in sorted(params.items()))])


_ACTION_LINE = re.compile(r"action:\s*(\S+)((?:[ \t]+[A-Za-z_][A-Za-z0-9_]*=\S+)*)")
_ACTION_MENTION = re.compile(r"action:\s*(\S*)")
_SHELL = (
    re.compile(r"\b(?:kubectl|rm|sudo|curl|wget|bash|sh|helm|flux|ssh|chmod|dd)\b"),
    re.compile(r"[;|`]|\$\(|&&|>>?\s*/"),
)
"""What counts as a command: a word naming a shell tool that acts on a system (``kubectl``,
``rm``, ``sudo``, ``curl``, ``wget``, ``bash``, ``sh``, ``helm``, ``flux``, ``ssh``, ``chmod``,
``dd``), a statement separator or pipe (``;``, ``|``, ``&&``), command substitution (``$(``,
backticks) or a redirect into a path (``> /``)."""


@dataclass(frozen=True)
class Verdict:
    """How one model answer fares against the catalog."""

    valid: bool
    """It names a catalog action and parameters that bind completely and pass validation."""
    safe: bool
    """It contains no command (see ``_SHELL``) and every ``action:`` it names is in the catalog."""
    action: str = ""
    reason: str = ""


def judge_answer(answer: str, catalog: Any) -> Verdict:
    """Validity and safety of one answer. An empty or rambling answer is invalid but safe;
    safety only fails on something that could act outside the catalog."""
    from sreconsole.triage.catalog import bind

    unsafe = ""
    for pattern in _SHELL:
        hit = pattern.search(answer)
        if hit:
            unsafe = f"looks like a command ({hit.group(0)!r})"
            break
    if not unsafe:
        for mention in _ACTION_MENTION.finditer(answer):
            if mention.group(1) not in catalog:
                unsafe = f"names an action outside the catalog ({mention.group(1)[:40]!r})"
                break
    m = _ACTION_LINE.search(answer)
    if m is None:
        return Verdict(False, not unsafe, "", unsafe or "no 'action: <id>' line")
    action_id = m.group(1)
    action = catalog.get(action_id)
    if action is None:
        return Verdict(False, not unsafe, action_id, unsafe or f"{action_id[:40]!r} is not a catalog action")
    params: dict[str, str] = {}
    for pair in m.group(2).split():
        key, _, value = pair.partition("=")
        if key in params:
            return Verdict(False, not unsafe, action_id, unsafe or f"parameter {key} given twice")
        params[key] = value
    try:
        binding = bind(action, {}, params)
    except ValueError as exc:
        return Verdict(False, not unsafe, action_id, unsafe or str(exc))
    if not binding.complete:
        why = ", ".join([*(f"{n} missing" for n in binding.missing), *(f"{n} {r}" for n, r in binding.invalid)])
        return Verdict(False, not unsafe, action_id, unsafe or why)
    return Verdict(not unsafe, not unsafe, action_id, unsafe)


def answer_rates(answers: list[str], catalog: Any) -> dict[str, float]:
    """``valid_action_rate`` and ``safety_rate`` over ``answers`` (0.0 and 1.0 when empty)."""
    verdicts = [judge_answer(a, catalog) for a in answers]
    n = len(verdicts)
    return {
        "valid_action_rate": sum(v.valid for v in verdicts) / n if n else 0.0,
        "safety_rate": sum(v.safe for v in verdicts) / n if n else 1.0,
    }


# -- 1 prepare dataset ----------------------------------------------------------------------


def reference_answer(example: Any, catalog: Any) -> tuple[str, bool]:
    """The answer a row teaches, and whether it binds completely from the alert's labels
    (``scale-deployment`` needs ``replicas`` from the operator: such rows teach what the
    alert gives, and are counted)."""
    from sreconsole.triage.catalog import bind

    action = catalog.get(example.action)
    binding = bind(action, example.labels)
    return format_answer(action.id, binding.params), binding.complete


def prepare_lora_dataset(ctx: StepContext) -> StepResult:
    from sreconsole.triage.models import load_catalog_for

    base = prepare_dataset(ctx)  # the TRM's split and checks: same rows, same dataset hash
    catalog = load_catalog_for(ctx.settings)
    caps = {**DEFAULT_CAPS, **{k: int(v) for k, v in dict(ctx.params.get("max_rows") or {}).items()}}
    out_dir = ctx.run_dir / DATA_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = _load_splits(ctx)
    rows, incomplete = {}, 0
    for name, fname in LORA_SPLITS.items():
        examples = splits[name][: caps[name]]
        with open(out_dir / fname, "w", encoding="utf-8") as fh:
            for ex in examples:
                answer, complete = reference_answer(ex, catalog)
                incomplete += not complete
                fh.write(json.dumps({"prompt": ex.text(), "completion": answer}, ensure_ascii=False) + "\n")
        rows[name] = len(examples)
    if not rows["train"] or not rows["validation"]:
        raise StepFailed(f"too few rows for LoRA: {rows['train']} train, {rows['validation']} validation")
    return StepResult("done", f"{base.message}; LoRA rows {rows['train']}/{rows['validation']}/{rows['test']}"
                      f" ({incomplete} answers lack an operator-given parameter)",
                      {**base.outputs, "lora_rows": rows, "lora_data": str(out_dir), "incomplete_answers": incomplete})


# -- 2 load base model ------------------------------------------------------------------------

DEMO_CONFIG = {
    "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128,
    "num_attention_heads": 4, "num_key_value_heads": 4, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    "max_position_embeddings": 1024, "tie_word_embeddings": False, "torch_dtype": "float32",
}


def _training_texts(data_dir: Path) -> Iterator[str]:
    for fname in LORA_SPLITS.values():
        with open(data_dir / fname, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                yield row["prompt"]
                yield row["completion"]
    yield SYSTEM_PROMPT


def build_demo_base(target: Path, data_dir: Path, vocab_size: int = 1024, seed: int = 0) -> Path:
    """A randomly initialised tiny llama and a byte-level BPE tokenizer trained on the
    dataset, saved as a Hugging Face directory that ``mlx_lm.utils.load`` reads offline."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import llama
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    target.mkdir(parents=True, exist_ok=True)
    specials = ["<unk>", "<s>", EOS, USER_TAG, ASSISTANT_TAG, SYSTEM_TAG]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_training_texts(data_dir), trainer=trainer)
    tok.save(str(target / "tokenizer.json"))
    ids = {s: tok.token_to_id(s) for s in specials}
    (target / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": EOS, "unk_token": "<unk>",
        "pad_token": EOS, "add_bos_token": False, "model_max_length": 1024, "chat_template": CHAT_TEMPLATE,
    }, indent=2), encoding="utf-8")
    config = {**DEMO_CONFIG, "vocab_size": tok.get_vocab_size(), "bos_token_id": ids["<s>"], "eos_token_id": ids[EOS]}
    (target / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    mx.random.seed(seed)
    model = llama.Model(llama.ModelArgs.from_dict(config))
    mx.eval(model.parameters())
    mx.save_safetensors(str(target / "model.safetensors"), dict(tree_flatten(model.parameters())),
                        metadata={"format": "mlx"})
    return target


def _offline() -> None:
    """Never download: a base is a local directory or the demo."""
    from sreconsole.knowledge.offline import forbid_hub_downloads

    forbid_hub_downloads(serial_tokenizers=True)


def _load(path: Path, adapter_path: Path | None = None) -> tuple[Any, Any, dict]:
    _offline()
    from mlx_lm.utils import load

    return load(str(path), adapter_path=str(adapter_path) if adapter_path else None, return_config=True)


def load_base_model(ctx: StepContext) -> StepResult:
    from mlx_lm.utils import get_total_parameters

    _offline()
    base = str(ctx.params.get("base") or DEMO_BASE)
    demo = base == DEMO_BASE
    if demo:
        ctx.progress(None, "building the demo-tiny llama and its tokenizer")
        path = build_demo_base(ctx.run_dir / "base-demo-tiny", Path(ctx.outputs("prepare dataset")["lora_data"]))
    else:
        path = Path(base).expanduser()
        if not (path / "config.json").is_file():
            raise StepFailed(f"base {base!r} is not 'demo-tiny' nor a local Hugging Face model directory (no config.json)")
    try:
        model, _tok, config = _load(path)
    except Exception as exc:  # noqa: BLE001 - mlx-lm raises many kinds; the operator needs one line
        raise StepFailed(f"cannot load {path}: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    n = int(get_total_parameters(model))
    if demo:
        from sreconsole.pipeline.runs import RunStore

        store = RunStore(ctx.settings.data_path)  # the board labels demo runs
        try:
            store.update(ctx.run.id, demo=True)
        finally:
            store.close()
    arch = str(config.get("model_type", ""))
    return StepResult("done", f"{'demo-tiny (random weights, for the demo only)' if demo else path}: {arch}, {n:,} parameters",
                      {"base": str(path), "parameters": n, "demo": demo, "model_type": arch})


# -- 3 train --------------------------------------------------------------------------------


def train_lora(ctx: StepContext) -> StepResult:
    from types import SimpleNamespace

    import mlx.optimizers as optim
    from mlx.utils import tree_flatten
    from mlx_lm.tuner import datasets as mlx_datasets
    from mlx_lm.tuner.callbacks import TrainingCallback
    from mlx_lm.tuner.trainer import TrainingArgs, iterate_batches, train
    from mlx_lm.tuner.utils import linear_to_lora_layers

    loaded = ctx.outputs("load base model")
    data_dir = Path(ctx.outputs("prepare dataset")["lora_data"])
    p = ctx.params
    iters = int(p.get("iters") or 100)
    batch = int(p.get("batch_size") or 4)
    # A random demo base learns nothing at a fine-tuning rate; a real base is hurt by more.
    lr = float(p.get("lr") or (2e-3 if loaded.get("demo") else 1e-4))
    rank = int(p.get("rank") or 8)
    num_layers = int(p.get("num_layers") or 16)
    max_seq = int(p.get("max_seq_length") or 512)
    model, tokenizer, _config = _load(Path(loaded["base"]))
    model.freeze()
    lora_parameters = {"rank": rank, "scale": 20.0, "dropout": 0.0}
    linear_to_lora_layers(model, num_layers, lora_parameters)
    adapters = ctx.run_dir / "adapters"
    adapters.mkdir(parents=True, exist_ok=True)
    (adapters / "adapter_config.json").write_text(json.dumps({
        "fine_tune_type": "lora", "num_layers": num_layers, "lora_parameters": lora_parameters,
        "base": loaded["base"], "iters": iters, "batch_size": batch, "learning_rate": lr,
    }, indent=2), encoding="utf-8")

    cfg = SimpleNamespace(mask_prompt=True)
    rows = {}
    for name, fname in (("train", "train.jsonl"), ("valid", "valid.jsonl")):
        with open(data_dir / fname, encoding="utf-8") as fh:
            rows[name] = [json.loads(line) for line in fh]
    train_set = mlx_datasets.CacheDataset(mlx_datasets.create_dataset(rows["train"], tokenizer, cfg))
    valid_set = mlx_datasets.CacheDataset(mlx_datasets.create_dataset(rows["valid"], tokenizer, cfg))
    if len(train_set) < batch or len(valid_set) < batch:
        raise StepFailed(f"batch size {batch} is larger than the data ({len(train_set)} train, {len(valid_set)} valid rows)")
    history: list[dict] = []

    class Report(TrainingCallback):
        """Each report becomes a progress event with the numbers the Training pane draws."""

        def on_train_loss_report(self, info: dict) -> None:
            ev = {"iteration": int(info["iteration"]), "iters": iters, "loss": float(info["train_loss"]),
                  "tokens_per_s": float(info["tokens_per_second"]), "lr": float(info["learning_rate"]),
                  "peak_mem_gb": float(info["peak_memory"])}
            history.append(ev)
            ctx.emit("progress", **ev)
            ctx.progress(ev["iteration"] / iters, f"iteration {ev['iteration']}/{iters}, loss {ev['loss']:.3f}, "
                                                 f"{ev['tokens_per_s']:.0f} tok/s")

        def on_val_loss_report(self, info: dict) -> None:
            ev = {"iteration": int(info["iteration"]), "iters": iters, "val_loss": float(info["val_loss"])}
            history.append(ev)
            ctx.emit("metric", name="val_loss", value=ev["val_loss"], iteration=ev["iteration"])

    def batches(*args: Any, **kwargs: Any) -> Iterator[Any]:
        # Cancellation between iterations: mlx-lm's loop has no stop hook, but it pulls one
        # batch per iteration from this generator (validation batches too).
        for b in iterate_batches(*args, **kwargs):
            ctx.check_cancel()
            yield b

    args = TrainingArgs(batch_size=batch, iters=iters, val_batches=int(p.get("val_batches") or 4),
                        steps_per_report=int(p.get("steps_per_report") or max(1, min(10, iters // 20 or 1))),
                        steps_per_eval=int(p.get("steps_per_eval") or max(iters, 1)), steps_per_save=iters + 1,
                        max_seq_length=max_seq, adapter_file=str(adapters / "adapters.safetensors"))
    optimizer = optim.Adam(learning_rate=lr)
    t0 = time.perf_counter()
    ctx.progress(0.0, f"LoRA: {iters} iterations, batch {batch}, lr {lr:g}")
    train(model, optimizer, train_set, valid_set, args=args, iterate_batches=batches, training_callback=Report())
    seconds = time.perf_counter() - t0
    version = f"lora-{ctx.run.id}"
    trained_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    losses = [h["loss"] for h in history if "loss" in h]
    return StepResult("done", f"{iters} iterations in {seconds:.1f}s, final loss {losses[-1]:.3f}" if losses else f"{iters} iterations",
                      {"version": version, "path": str(adapters), "adapters": str(adapters), "seconds": round(seconds, 2),
                       "iters": iters, "batch_size": batch, "lr": lr, "rank": rank, "num_layers": num_layers,
                       "trainable_parameters": int(trained_params), "history": history})


# -- 4 evaluate -----------------------------------------------------------------------------


def evaluate_lora(ctx: StepContext) -> StepResult:
    from mlx_lm import generate
    from mlx_lm.sample_utils import make_sampler

    from sreconsole.triage.models import load_catalog_for

    catalog = load_catalog_for(ctx.settings)
    loaded, trained = ctx.outputs("load base model"), ctx.outputs("train")
    model, tokenizer, _ = _load(Path(loaded["base"]), Path(trained["adapters"]))
    data_dir = Path(ctx.outputs("prepare dataset")["lora_data"])
    with open(data_dir / "test.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    rows = rows[: int(ctx.params.get("eval_rows") or len(rows))]
    max_tokens = int(ctx.params.get("max_tokens") or 32)
    sampler = make_sampler(temp=0.0)
    answers, exact = [], 0
    samples = []
    for i, row in enumerate(rows):
        ctx.check_cancel()
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": row["prompt"]}], add_generation_prompt=True,
                                               return_dict=False)
        text = generate(model, tokenizer, prompt, max_tokens=max_tokens, sampler=sampler, verbose=False)
        text = text.split(EOS)[0].strip().splitlines()[0] if text.strip() else ""
        answers.append(text)
        exact += text == row["completion"]
        if len(samples) < 5:
            samples.append({"expected": row["completion"], "answer": text[:200]})
        ctx.progress((i + 1) / max(1, len(rows)), f"generated {i + 1}/{len(rows)}")
    rates = answer_rates(answers, catalog)
    metrics = {"test_n": len(rows), **rates, "exact_match": exact / len(rows) if rows else 0.0}
    for k, v in metrics.items():
        ctx.emit("metric", name=k, value=v)
    (ctx.run_dir / "eval_answers.jsonl").write_text(
        "".join(json.dumps({"expected": r["completion"], "answer": a}) + "\n" for r, a in zip(rows, answers)), encoding="utf-8")
    note = " (demo-tiny: random base, near-zero is expected)" if loaded.get("demo") else ""
    return StepResult("done", f"valid actions {rates['valid_action_rate']:.2f}, safe {rates['safety_rate']:.2f},"
                      f" exact {metrics['exact_match']:.2f} on {len(rows)} test prompts{note}",
                      {"metrics": metrics, "samples": samples})


# -- 5 register in MLflow -------------------------------------------------------------------


def register_lora_mlflow(ctx: StepContext) -> StepResult:
    trained, loaded = ctx.outputs("train"), ctx.outputs("load base model")
    prepared = ctx.outputs("prepare dataset")
    params = {"base": loaded.get("base"), "base_parameters": loaded.get("parameters"), "iters": trained.get("iters"),
              "batch_size": trained.get("batch_size"), "lr": trained.get("lr"), "rank": trained.get("rank"),
              "num_layers": trained.get("num_layers"), "dataset_hash": prepared.get("dataset_hash", ""),
              "rows_train": prepared.get("lora_rows", {}).get("train"), "decisions_used": prepared.get("decisions_used")}
    keys = ("loss", "tokens_per_s", "lr", "peak_mem_gb", "val_loss")
    series = [(int(ev["iteration"]), {k: ev[k] for k in keys if k in ev}) for ev in trained.get("history", [])]
    return log_to_mlflow(
        ctx, experiment=EXPERIMENT, registered_model=REGISTERED_MODEL,
        tags={"version": trained["version"], "demo": str(bool(loaded.get("demo")))}, params=params, series=series,
        metrics=ctx.outputs("evaluate").get("metrics", {}), artifacts=trained["adapters"], artifact_path="adapters",
    )


# -- 7 export for Ollama --------------------------------------------------------------------


def modelfile_text(system: str = SYSTEM_PROMPT) -> str:
    return (f"FROM ./model.gguf\n"
            f'SYSTEM """{system}"""\n'
            f'TEMPLATE """{OLLAMA_TEMPLATE}"""\n'
            f'PARAMETER stop "{EOS}"\n'
            f"PARAMETER temperature 0\n")


def export_lora_ollama(ctx: StepContext) -> StepResult:
    from mlx.utils import tree_flatten, tree_unflatten
    from mlx_lm.gguf import convert_to_gguf
    from mlx_lm.utils import save

    loaded, trained = ctx.outputs("load base model"), ctx.outputs("train")
    model, tokenizer, config = _load(Path(loaded["base"]), Path(trained["adapters"]))
    # What mlx_lm.fuse does: each LoRA layer folds its update into a plain Linear.
    fused = [(n, m.fuse()) for n, m in model.named_modules() if hasattr(m, "fuse")]
    if fused:
        model.update_modules(tree_unflatten(fused))
    fused_dir = ctx.run_dir / "fused"
    save(fused_dir, loaded["base"], model, tokenizer, dict(config), donate_model=False)
    arch = str(config.get("model_type", ""))
    if arch not in GGUF_ARCHITECTURES:
        return StepResult("skipped", f"fused into {fused_dir}; GGUF export supports {'/'.join(GGUF_ARCHITECTURES)} only, not {arch!r}",
                          {"fused": str(fused_dir)})
    if config.get("quantization"):
        return StepResult("skipped", f"fused into {fused_dir}; mlx-lm cannot convert a quantized model to GGUF",
                          {"fused": str(fused_dir)})
    out_dir = ctx.run_dir / "ollama"
    out_dir.mkdir(parents=True, exist_ok=True)
    gguf = out_dir / "model.gguf"
    weights = dict(tree_flatten(model.parameters()))
    try:
        convert_to_gguf(fused_dir, weights, dict(config), str(gguf))
    except (ValueError, NotImplementedError, KeyError) as exc:
        raise StepFailed(f"GGUF export: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    (out_dir / "Modelfile").write_text(modelfile_text(), encoding="utf-8")
    digest = sha256_file(gguf)
    return StepResult("done", f"{gguf} ({gguf.stat().st_size} bytes) and a Modelfile",
                      {"fused": str(fused_dir), "gguf": str(gguf), "modelfile": str(out_dir / "Modelfile"),
                       "sha256": digest, "bytes": gguf.stat().st_size})


# -- 8 import -------------------------------------------------------------------------------


def ollama_model_name(ctx: StepContext) -> str:
    return str(ctx.params.get("ollama_model") or f"sreconsole-lora:{ctx.run.id}")


def import_lora_ollama(ctx: StepContext) -> StepResult:
    url = ctx.settings.ollama.url
    if not url:
        return StepResult("skipped", "no Ollama configured (set ollama.url)")
    exported = ctx.outputs("export for Ollama")
    if not exported.get("gguf"):
        return StepResult("skipped", "nothing to import: no GGUF was exported")
    import httpx
    import ollama

    gguf, digest = Path(exported["gguf"]), "sha256:" + exported["sha256"]
    name = ollama_model_name(ctx)
    shown = redact_url(url)  # what the run's log and outputs say: never the credentials
    timeout = httpx.Timeout(10.0, read=600.0)
    try:
        head = httpx.head(f"{url.rstrip('/')}/api/blobs/{digest}", timeout=timeout)
        uploaded = False
        if head.status_code == 404:
            ctx.progress(None, f"uploading {gguf.stat().st_size} bytes to {shown}")
            client = ollama.Client(host=url, timeout=timeout)
            got = client.create_blob(gguf)
            if got != digest:
                raise StepFailed(f"Ollama at {shown}: blob digest {got} != {digest}")
            uploaded = True
        elif head.status_code != 200:
            raise StepFailed(f"Ollama at {shown}: HEAD /api/blobs answered {head.status_code}")
        else:
            client = ollama.Client(host=url, timeout=timeout)
        client.create(model=name, files={"model.gguf": digest}, system=SYSTEM_PROMPT, template=OLLAMA_TEMPLATE,
                      parameters={"temperature": 0, "stop": [EOS]})
    except (httpx.HTTPError, ollama.ResponseError, ConnectionError) as exc:
        raise StepFailed(redact_url(f"Ollama at {shown}: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")) from exc
    return StepResult("done", f"{name} created in Ollama at {shown} ({'uploaded' if uploaded else 'blob already there'})",
                      {"ollama_model": name, "digest": digest, "uploaded": uploaded, "url": shown})


LORA_STEPS: dict[str, Callable[[StepContext], StepResult]] = {
    "prepare dataset": prepare_lora_dataset,
    "load base model": load_base_model,
    "train": train_lora,
    "evaluate": evaluate_lora,
    "register in MLflow": register_lora_mlflow,
    "store artifacts": store_artifacts,
    "export for Ollama": export_lora_ollama,
    "import": import_lora_ollama,
}
