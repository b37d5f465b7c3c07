"""Plain results the coding engine returns: evidence, findings, codes. No Django, no database.

Every code IamBilly proposes carries the words it rests on (`Evidence`: a character span of the
transcript, and the audio time when word timings exist) and a one-sentence rationale a coder can check.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Evidence:
    start: int
    end: int
    text: str
    audio_start_s: float | None = None

    def as_json(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text, "audio_start_s": self.audio_start_s}


@dataclass(frozen=True)
class Finding:
    """Something a biller or the physician must look at. `rule` names the check ("DX-MISSING", "NCCI-PTP")."""

    rule: str
    severity: str  # "error" | "warning" | "info"
    message: str
    lines: tuple[int, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    source_title: str = ""
    source_passage: str = ""
    fix: str = ""             # what to do about it, in a biller's words ("Add XS to 63047: another level")
    source_section: str = ""  # where in the source the passage stands ("Covered indications", "ch. VIII E.4")
    source_ref: str = ""      # a stable pointer into IamBilly's own tables ("policy-chunk:42", "ncci:22630/63047")

    def as_json(self) -> dict:
        source = {"title": self.source_title, "passage": self.source_passage}
        if self.source_section:
            source["section"] = self.source_section
        if self.source_ref:
            source["ref"] = self.source_ref
        out = {"rule": self.rule, "severity": self.severity, "lines": list(self.lines), "message": self.message,
               "source": source, "evidence": [e.as_json() for e in self.evidence]}
        if self.fix:
            out["fix"] = self.fix
        return out


@dataclass
class DiagnosisCode:
    code: str                      # ICD-10-CM with the dot: "M50.122"
    description: str
    rationale: str
    confidence: float
    evidence: list[Evidence] = field(default_factory=list)
    region: str | None = None      # "cervical", "lumbar", ... (links service lines to diagnoses)
    levels: tuple[str, ...] = ()   # interspace or vertebra names it concerns ("C5-C6", "L1")


@dataclass
class DiagnosisResult:
    codes: list[DiagnosisCode]     # sequenced: the main reason for the procedure first
    findings: list[Finding] = field(default_factory=list)
