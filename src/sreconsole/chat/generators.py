"""The generators behind one interface: ``generate(question, hits, history)`` yields text
as it is produced; ``[n]`` markers in it name ``hits[n-1]``.

* :class:`~sreconsole.chat.extractive.ExtractiveGenerator` composes from the passages;
* :class:`OllamaGenerator` streams from Ollama's ``/api/chat`` through the ``ollama`` client;
* :class:`MlxGenerator` runs a local model with ``mlx-lm`` (for example the LoRA model the
  training pipeline fused), in this process.

An LLM generator that cannot answer raises :class:`GeneratorUnavailable` with one line
for the operator; Bruno then answers extractively and says why. What a model writes is
checked afterwards (:func:`sreconsole.chat.grounding.ground`), never trusted.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from sreconsole.chat import grounding
from sreconsole.config import CHAT_GENERATORS
from sreconsole.domain.text import clean, redact_url


class GeneratorUnavailable(Exception):
    """The generator could not be asked (not reachable, model missing, protocol error)."""


def within(parts: Callable[[], Iterable], seconds: float, what: str) -> Iterator:
    """The items of ``parts()`` as they come, but the whole stream must end within
    ``seconds``: the ``ollama`` client's timeout is per read, and a server that sends a byte
    every second would otherwise hold an answer for ever. The stream is read in a daemon
    thread that stops at the next item once the caller stops or gives up."""
    items: queue.Queue = queue.Queue()
    stop = threading.Event()

    def read() -> None:
        try:
            for item in parts():
                if stop.is_set():
                    return
                items.put((True, item))
            items.put((True, StopIteration))
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread as is
            items.put((False, exc))

    threading.Thread(target=read, name=f"stream from {what}", daemon=True).start()
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                ok, item = items.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                raise GeneratorUnavailable(f"{what}: no complete answer within {seconds:g} s") from None
            if not ok:
                raise item
            if item is StopIteration:
                return
            yield item
    finally:
        stop.set()


class Generator(Protocol):
    name: str
    """Shown under each answer and in the pane header: ``ollama:llama3.2:3b``."""
    streams: bool
    """True when text arrives piece by piece from a model (the pane shows it as it comes)."""

    def generate(self, question: str, hits: Sequence, history: Sequence[tuple[str, str]] = ()) -> Iterator[str]: ...


class OllamaGenerator:
    """Ollama's chat API, streaming. The request carries the grounding prompt with the
    numbered passages, the last ``window`` turns and the question."""

    streams = True

    def __init__(self, url: str, model: str, timeout_s: float, window: int, actions: Sequence[str]) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.window = window
        self.actions = tuple(actions)
        self.name = f"ollama:{model}"
        self._client = None

    def _chat_client(self):
        if self._client is None:
            import ollama

            # trust_env=False: an HTTP(S)_PROXY meant for the internet must not capture a
            # bastion-local Ollama.
            self._client = ollama.Client(host=self.url, timeout=self.timeout_s, trust_env=False)
        return self._client

    def generate(self, question: str, hits: Sequence, history: Sequence[tuple[str, str]] = ()) -> Iterator[str]:
        import httpx
        import ollama

        msgs = grounding.messages(question, hits, history, self.window, self.actions)
        where = redact_url(f"{self.url}/api/chat")

        def parts():
            return self._chat_client().chat(model=self.model, messages=msgs, stream=True, options={"temperature": 0})

        try:
            # ollama.timeout_s bounds the whole answer, not only each read.
            for part in within(parts, self.timeout_s, f"Ollama at {where}"):
                chunk = part.message.content if part.message is not None else ""
                if chunk:
                    yield chunk
                if part.done:
                    return
        except ollama.ResponseError as exc:
            raise GeneratorUnavailable(f"Ollama at {where} answered {exc.status_code}: {clean(exc.error, 200)}") from exc
        except (httpx.HTTPError, ConnectionError) as exc:
            raise GeneratorUnavailable(f"{type(exc).__name__} talking to {where}: {clean(redact_url(exc), 200) or 'no detail'}") from exc
        except ValueError as exc:  # a line that is not JSON, or JSON that is not a chat reply
            raise GeneratorUnavailable(f"not an Ollama reply from {where}: {clean(str(exc), 120)}") from exc


class MlxGenerator:
    """A local model through ``mlx-lm``: loaded once (lazily, on the first question),
    prompted with its own chat template when it has one, decoded greedily.

    Generation runs in the caller's thread; a caller that stops iterating stops it."""

    streams = True

    def __init__(self, path: Path, max_tokens: int, window: int, actions: Sequence[str], adapter_path: Path | None = None, label: str = "") -> None:
        self.path = Path(path)
        self.adapter_path = adapter_path
        self.max_tokens = max_tokens
        self.window = window
        self.actions = tuple(actions)
        self.name = f"mlx:{label or self.path.name}"
        self._loaded = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._loaded is None:
                if not (self.path / "config.json").is_file():
                    raise GeneratorUnavailable(f"no MLX model at {self.path} (no config.json)")
                from sreconsole.knowledge.offline import forbid_hub_downloads

                forbid_hub_downloads(serial_tokenizers=True)  # a local directory, never a download
                try:
                    from mlx_lm import load

                    adapter = str(self.adapter_path) if self.adapter_path else None
                    self._loaded = load(str(self.path), adapter_path=adapter)
                except Exception as exc:  # noqa: BLE001 - mlx-lm raises many kinds; one line for the operator
                    first = str(exc).splitlines()[0] if str(exc) else ""
                    raise GeneratorUnavailable(f"cannot load the MLX model at {self.path}: {type(exc).__name__}: {clean(first, 200)}") from exc
            return self._loaded

    def prompt(self, tokenizer, question: str, hits: Sequence, history: Sequence[tuple[str, str]]):
        msgs = grounding.messages(question, hits, history, self.window, self.actions)
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        # No template (a base model): a plain transcript ending where the answer starts.
        lines = [f"{m['role'].capitalize()}: {m['content']}" for m in msgs]
        return "\n\n".join(lines) + "\n\nAssistant:"

    def generate(self, question: str, hits: Sequence, history: Sequence[tuple[str, str]] = ()) -> Iterator[str]:
        model, tokenizer = self._load()
        from mlx_lm import stream_generate
        from mlx_lm.sample_utils import make_sampler

        prompt = self.prompt(tokenizer, question, hits, history)
        try:
            for response in stream_generate(model, tokenizer, prompt, max_tokens=self.max_tokens, sampler=make_sampler(temp=0.0)):
                if response.text:
                    yield response.text
        except Exception as exc:  # noqa: BLE001 - a failed generation is one line, then the extractive answer
            raise GeneratorUnavailable(f"MLX generation failed: {type(exc).__name__}: {clean(str(exc), 200)}") from exc


def choose(settings) -> str:
    """The generator ``chat.generator`` resolves to: ``auto`` is Ollama when ``ollama.url``
    is set, else the local MLX model when ``chat.mlx_model`` is set, else extractive. A
    choice that cannot work raises ValueError with the reason."""
    chat = settings.chat
    choice = chat.generator
    if choice not in CHAT_GENERATORS:
        raise ValueError(f"chat.generator must be one of {', '.join(CHAT_GENERATORS)}, not {choice!r}")
    if choice == "auto":
        choice = "ollama" if settings.ollama.url else ("mlx" if chat.mlx_model else "extractive")
    if choice == "ollama" and not settings.ollama.url:
        raise ValueError("chat.generator = 'ollama' needs ollama.url")
    if choice == "mlx" and not chat.mlx_model:
        raise ValueError("chat.generator = 'mlx' needs chat.mlx_model (a model directory or run:<id>)")
    return choice


def mlx_label(value: str) -> str:
    return f"run {value[4:]}" if value.startswith("run:") else Path(value).expanduser().name


def local_mlx_model(value: str) -> tuple[Path, None, str]:
    """``chat.mlx_model`` given as a directory: (model dir, no adapters, label)."""
    return Path(value).expanduser(), None, mlx_label(value)


def describe(settings) -> str:
    """The name the configured generator answers under, without building it (the pane
    header shows it before the first question; nothing heavy is imported)."""
    choice = choose(settings)
    if choice == "ollama":
        return f"ollama:{settings.ollama.model}"
    if choice == "mlx":
        return f"mlx:{mlx_label(settings.chat.mlx_model)}"
    return "extractive"


def make_generator(settings, actions: Sequence[str], mlx_model: tuple[Path, Path | None, str] | None = None) -> Generator:
    """The generator :func:`choose` picks. ``mlx_model`` is ``(model dir, adapter dir or
    None, label)`` when the caller resolved ``chat.mlx_model`` (a pipeline run id);
    otherwise it is read as a directory."""
    from sreconsole.chat.extractive import ExtractiveGenerator

    window = max(0, int(settings.chat.context_messages))
    choice = choose(settings)
    if choice == "ollama":
        o = settings.ollama
        return OllamaGenerator(o.url, o.model, o.timeout_s, window, actions)
    if choice == "mlx":
        path, adapter, label = mlx_model or local_mlx_model(settings.chat.mlx_model)
        return MlxGenerator(path, max(16, int(settings.chat.max_tokens)), window, actions, adapter_path=adapter, label=label)
    return ExtractiveGenerator()
