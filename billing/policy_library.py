"""The coverage policy library: text out of policy documents, chunks by section, and hybrid retrieval.

Admins upload LCDs, billing articles, payer manuals and NCCI chapters (PDF, HTML, text or markdown). This module
- extracts their text as blocks (headings and paragraphs) with a clear error for what it cannot read: an empty
  file, an unsupported type, a file over the size limit, a PDF with no text layer (a scan);
- cuts the text into chunks by section (long sections on paragraph and then sentence boundaries, under a size
  cap), each chunk keeping its section title and its character offsets in the document text;
- expands a question with the spine synonym and abbreviation table (billing/data/spine_synonyms.csv), because
  MiniLM and English stemming know neither "TFESI" nor that a "pinched nerve" is radiculopathy;
- searches the current versions: pgvector cosine distance (HNSW) and PostgreSQL full text (a weighted tsvector,
  GIN), fused by reciprocal rank fusion.

Everything above `search` is pure (bytes and strings in, dataclasses out); `search` reads the database.
"""

from __future__ import annotations

import csv
import functools
import html.parser
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from billy.services import BillyError

DATA = Path(__file__).resolve().parent / "data"
SYNONYMS_CSV = DATA / "spine_synonyms.csv"

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# A chunk is at most this many characters: about 200 MiniLM word pieces of policy prose, under its 256 limit,
# and short enough that a cited passage is one idea a biller can read at a glance.
CHUNK_MAX_CHARS = 900
# A PDF page whose text layer has fewer characters than this is treated as an image.
MIN_TEXT_CHARS = 20

SUPPORTED = {".pdf": "pdf", ".html": "html", ".htm": "html", ".txt": "text", ".md": "markdown",
             ".markdown": "markdown"}


class PolicyFileError(BillyError):
    """A policy file that cannot be taken in: the message says why and what to upload instead."""


# --- extraction --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    kind: str  # "heading" or "paragraph"
    text: str
    level: int = 0  # heading depth (1 = top); 0 for paragraphs


@dataclass
class Extracted:
    format: str  # pdf, html, text, markdown
    blocks: list[Block]
    metadata: dict[str, str] = field(default_factory=dict)  # markdown front matter (title, identifier, ...)
    pages: int = 0

    @property
    def text(self) -> str:
        return document_text(self.blocks)


def document_text(blocks: Sequence[Block]) -> str:
    """The document text the chunk offsets point into: blocks separated by a blank line."""
    return "\n\n".join(b.text for b in blocks)


def detect_format(filename: str, data: bytes) -> str:
    """pdf, html, text or markdown, from the content first (a PDF is a PDF whatever its name), then the name."""
    suffix = Path(filename or "").suffix.lower()
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return "pdf"
    if suffix == ".pdf":
        raise PolicyFileError(f"{filename} is named .pdf but is not a PDF file: upload the PDF itself.")
    if suffix in SUPPORTED:
        return SUPPORTED[suffix]
    head = data[:512].lstrip().lower()
    if not suffix and head.startswith((b"<!doctype html", b"<html")):
        return "html"
    shown = suffix or "a file without an extension"
    raise PolicyFileError(f"{filename or 'This file'} is {shown}, which the policy library does not read. Upload a "
                          "PDF with a text layer, an HTML page (.html) or plain text/markdown (.txt, .md).")


def extract(filename: str, data: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES) -> Extracted:
    """Headings and paragraphs of a policy file; PolicyFileError says why a file cannot be read."""
    name = filename or "The file"
    if len(data) > max_bytes:
        raise PolicyFileError(f"{name} is {len(data) / 1024 / 1024:.1f} MB; the policy library takes files up to "
                              f"{max_bytes / 1024 / 1024:.0f} MB. Split the document, or upload its text or HTML "
                              "version.")
    if not data.strip():
        raise PolicyFileError(f"{name} is empty: there is nothing to index.")
    fmt = detect_format(filename, data)
    if fmt == "pdf":
        extracted = _extract_pdf(name, data)
    else:
        text = _decode(name, data)
        if fmt == "html":
            extracted = Extracted("html", _html_blocks(text))
        else:
            metadata, body = front_matter(text)
            blocks = _markdown_blocks(body) if fmt == "markdown" or _looks_like_markdown(body) else _text_blocks(body)
            extracted = Extracted(fmt, blocks, metadata)
    if not any(b.kind == "paragraph" for b in extracted.blocks):
        raise PolicyFileError(f"{name} has no readable text (only headings, or nothing at all): there is "
                              "nothing to index.")
    return extracted


def _decode(name: str, data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text.replace("\r\n", "\n").replace("\r", "\n")
    raise PolicyFileError(f"{name} is not text (it holds binary data): upload a PDF, an HTML page or a UTF-8 "
                          "text file.")


def front_matter(text: str) -> tuple[dict[str, str], str]:
    """A leading `---` block of `key: value` lines (the seed documents carry their identifiers in one)."""
    match = re.match(r"\A---\n(.*?)\n---\n", text, re.S)
    if not match:
        return {}, text
    metadata = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            metadata[key.strip().lower()] = value.strip()
    return metadata, text[match.end():]


def _clean(text: str) -> str:
    return re.sub(r"[ \t\u00a0]+", " ", text).strip()


def _looks_like_markdown(text: str) -> bool:
    return bool(re.search(r"^#{1,6} \S", text, re.M))


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def _markdown_blocks(text: str) -> list[Block]:
    """Headings (# ...), and paragraphs split at blank lines; each list item is a paragraph of its own."""
    blocks: list[Block] = []
    lines: list[str] = []

    def flush() -> None:
        if lines:
            paragraph = _clean(" ".join(s.strip() for s in lines))
            if paragraph:
                blocks.append(Block("paragraph", _strip_inline_markdown(paragraph)))
            lines.clear()

    for raw in text.split("\n"):
        heading = _MD_HEADING.match(raw)
        if heading:
            flush()
            blocks.append(Block("heading", _strip_inline_markdown(_clean(heading.group(2))), len(heading.group(1))))
        elif not raw.strip():
            flush()
        else:
            if _MD_LIST_ITEM.match(raw):
                flush()
            lines.append(raw)
    flush()
    return blocks


def _strip_inline_markdown(text: str) -> str:
    text = re.sub(r"\*\*(.+?)\*\*|__(.+?)__", lambda m: m.group(1) or m.group(2), text)
    return re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)


def _text_blocks(text: str) -> list[Block]:
    """Plain text: paragraphs at blank lines; a short line standing alone that looks like a heading is one."""
    blocks = []
    for part in re.split(r"\n\s*\n", text):
        paragraph_lines = [s.strip() for s in part.split("\n") if s.strip()]
        if not paragraph_lines:
            continue
        if len(paragraph_lines) == 1 and looks_like_heading(paragraph_lines[0]):
            blocks.append(Block("heading", _clean(paragraph_lines[0]).rstrip(":"), 1))
        else:
            blocks.append(Block("paragraph", _clean(" ".join(paragraph_lines))))
    return blocks


_NUMBERED = re.compile(r"^(?:section\s+)?(?:\d+(?:\.\d+)*|[IVX]+|[A-Z])[.)]?\s+\S", re.I)


def looks_like_heading(line: str) -> bool:
    """A short line that reads as a title: no closing full stop, and either numbered, in capitals, or ending
    with a colon, or Title Case ("Covered Indications", "3. Limitations", "DOCUMENTATION REQUIREMENTS")."""
    line = line.strip()
    if not line or len(line) > 90 or line.endswith((".", ",", ";")) or len(line.split()) > 12:
        return False
    letters = [c for c in line if c.isalpha()]
    if len(letters) < 3:
        return False
    if line.endswith(":") or _NUMBERED.match(line) or line.isupper():
        return True
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'-]*", line) if len(w) > 3]
    return bool(words) and all(w[0].isupper() for w in words)


class _HtmlReader(html.parser.HTMLParser):
    BLOCK_TAGS = {"p", "div", "li", "tr", "td", "th", "br", "section", "article", "blockquote", "pre", "dd", "dt",
                  "table", "ul", "ol", "header", "footer", "main", "hr"}
    SKIP_TAGS = {"script", "style", "noscript", "template", "head", "nav", "svg"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self._text: list[str] = []
        self._heading_level = 0
        self._skip_depth = 0

    def _flush(self) -> None:
        text = _clean(" ".join("".join(self._text).split()))
        self._text = []
        if not text:
            return
        if self._heading_level:
            self.blocks.append(Block("heading", text, self._heading_level))
        else:
            self.blocks.append(Block("paragraph", text))

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP_TAGS:
            self._skip_depth += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading_level = int(tag[1])
        elif tag in self.BLOCK_TAGS:
            self._flush()

    def handle_endtag(self, tag):
        if tag in self.SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading_level = 0
        elif tag in self.BLOCK_TAGS:
            self._flush()

    def handle_data(self, data):
        if not self._skip_depth:
            self._text.append(data)

    def close(self):
        super().close()
        self._flush()


def _html_blocks(text: str) -> list[Block]:
    reader = _HtmlReader()
    reader.feed(text)
    reader.close()
    return reader.blocks


def _extract_pdf(name: str, data: bytes) -> Extracted:
    """Lines from pdfplumber, grouped into paragraphs at vertical gaps; a line in a bold or larger font than the
    body text, or one that reads like a title on its own, is a heading."""
    import pdfplumber
    from pdfminer.pdfparser import PDFSyntaxError

    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except (PDFSyntaxError, ValueError, TypeError) as exc:
        raise PolicyFileError(f"{name} could not be read as a PDF ({exc.__class__.__name__}): it may be damaged or "
                              "password-protected. Save it again from the source, or upload its text version.")
    except Exception as exc:  # pdfminer raises its own types for encrypted or broken files
        raise PolicyFileError(f"{name} could not be read as a PDF ({exc.__class__.__name__}): it may be damaged or "
                              "password-protected. Save it again from the source, or upload its text version.")
    with pdf:
        pages = len(pdf.pages)
        lines: list[tuple[int, dict]] = []
        images = 0
        for number, page in enumerate(pdf.pages):
            images += len(page.images)
            for line in page.extract_text_lines(layout=False, strip=True, return_chars=True):
                if line["text"].strip():
                    lines.append((number, line))
    if sum(len(line["text"]) for _, line in lines) < MIN_TEXT_CHARS:
        what = f"{pages} page{'s' if pages != 1 else ''}" + (f" with {images} image{'s' if images != 1 else ''}"
                                                            if images else "")
        raise PolicyFileError(f"{name} has no text layer ({what}): it looks like a scan. Run it through OCR "
                              "first, or upload the text or HTML version of the document (the CMS Medicare "
                              "Coverage Database has both).")
    return Extracted("pdf", _pdf_blocks(lines), pages=pages)


def _line_style(line: dict) -> tuple[float, bool]:
    chars = [c for c in line.get("chars", []) if c.get("text", "").strip()]
    if not chars:
        return 0.0, False
    size = sorted(c.get("size", 0.0) for c in chars)[len(chars) // 2]
    bold = sum("bold" in (c.get("fontname") or "").lower() for c in chars) > len(chars) / 2
    return round(size, 1), bold


def _pdf_blocks(lines: list[tuple[int, dict]]) -> list[Block]:
    styles = [_line_style(line) for _, line in lines]
    sizes = sorted(size for size, _ in styles if size)
    body_size = sizes[len(sizes) // 2] if sizes else 0.0
    heights = sorted(line["bottom"] - line["top"] for _, line in lines)
    line_height = heights[len(heights) // 2] if heights else 10.0
    blocks: list[Block] = []
    paragraph: list[str] = []
    previous: tuple[int, float] | None = None

    def flush() -> None:
        if paragraph:
            text = paragraph[0]
            for more in paragraph[1:]:
                # A word hyphenated across lines is joined; otherwise lines join with a space.
                text = text[:-1] + more if re.search(r"[a-z]-$", text) and more[:1].islower() else f"{text} {more}"
            blocks.append(Block("paragraph", _clean(text)))
            paragraph.clear()

    for (page, line), (size, bold) in zip(lines, styles, strict=True):
        text = _clean(line["text"])
        bigger = body_size and size >= body_size + 1.5
        is_heading = len(text) <= 120 and not text.endswith((".", ",", ";")) and (
            bigger or (bold and len(text.split()) <= 14))
        gap = previous is None or previous[0] != page or line["top"] - previous[1] > line_height * 0.9
        if is_heading:
            flush()
            level = 1 if bigger and size >= body_size + 4 else 2
            if blocks and blocks[-1].kind == "heading" and not gap:  # a title wrapped onto two lines
                blocks[-1] = Block("heading", f"{blocks[-1].text} {text}", blocks[-1].level)
            else:
                blocks.append(Block("heading", text, level))
        else:
            if gap:
                flush()
            paragraph.append(text)
        previous = (page, line["bottom"])
    flush()
    return blocks


# --- chunking ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    section: str  # the nearest heading above the text ("" before the first heading)
    text: str
    char_start: int  # offsets into document_text(blocks): text == document_text[char_start:char_end]
    char_end: int

    def embedding_text(self, title: str = "") -> str:
        """What the model reads: the section title gives a short passage its context ("Limitations: ...")."""
        context = " — ".join(part for part in (title, self.section) if part)
        return f"{context}: {self.text}" if context else self.text


def chunk_blocks(blocks: Sequence[Block], *, max_chars: int = CHUNK_MAX_CHARS) -> list[Chunk]:
    """Chunks by section: a section's paragraphs are packed together up to max_chars; a paragraph longer than
    that is split at sentences (and a sentence longer than that at spaces). Offsets point into the document
    text, so a chunk's text is exactly document_text[char_start:char_end]."""
    spans: list[tuple[str, int, int]] = []  # (section, start, end) of each paragraph piece
    section, offset = "", 0
    for index, block in enumerate(blocks):
        if index:
            offset += 2  # the blank line between blocks
        if block.kind == "heading":
            section = block.text
        else:
            for start, end in _pieces(block.text, max_chars):
                spans.append((section, offset + start, offset + end))
        offset += len(block.text)
    text = document_text(blocks)
    chunks: list[Chunk] = []
    current: list[tuple[str, int, int]] = []

    def flush() -> None:
        if current:
            start, end = current[0][1], current[-1][2]
            chunks.append(Chunk(len(chunks), current[0][0], text[start:end], start, end))
            current.clear()

    for span in spans:
        if current and (span[0] != current[0][0] or span[2] - current[0][1] > max_chars):
            flush()
        current.append(span)
    flush()
    return chunks


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-Z0-9(\"'])")


def _pieces(text: str, max_chars: int) -> list[tuple[int, int]]:
    """(start, end) of consecutive pieces of a paragraph, each at most max_chars, cut at sentence ends."""
    if len(text) <= max_chars:
        return [(0, len(text))]
    bounds = [0] + [m.end() for m in _SENTENCE_END.finditer(text)] + [len(text)]
    sentences = [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1) if bounds[i] < bounds[i + 1]]
    pieces: list[tuple[int, int]] = []
    for start, end in sentences:
        while end - start > max_chars:  # one sentence longer than a chunk: cut at the last space that fits
            cut = text.rfind(" ", start, start + max_chars)
            cut = cut if cut > start else start + max_chars
            pieces.append((start, cut))
            start = cut + 1 if text[cut:cut + 1] == " " else cut
        if pieces and end - pieces[-1][0] <= max_chars and pieces[-1][1] <= start:
            pieces[-1] = (pieces[-1][0], end)
        else:
            pieces.append((start, end))
    return [(s, e - (len(text[s:e]) - len(text[s:e].rstrip()))) for s, e in pieces]


# --- synonyms ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Synonym:
    term: str
    expansion: str
    kind: str  # abbreviation, lay, synonym


@functools.cache
def synonyms() -> tuple[Synonym, ...]:
    with SYNONYMS_CSV.open(newline="", encoding="utf-8") as f:
        rows = [Synonym(r["term"].strip(), r["expansion"].strip(), r["kind"].strip()) for r in csv.DictReader(f)]
    return tuple(rows)


def _term_pattern(term: str, *, case_sensitive: bool) -> re.Pattern:
    words = r"[\s-]+".join(re.escape(w) for w in term.split())
    # A plural matches too ("medial branch blocks", "TLIFs").
    return re.compile(rf"(?<![\w-]){words}(?:s|es)?(?![\w-])", 0 if case_sensitive else re.I)


@functools.cache
def _patterns() -> tuple[tuple[Synonym, re.Pattern, re.Pattern | None], ...]:
    out = []
    for syn in synonyms():
        # Abbreviations match in capitals only when short ("SI", "PT", "RF" are also ordinary words), and the
        # expansion of an abbreviation finds the abbreviation too ("transforaminal epidural steroid injection"
        # in a question finds "TFESI" in a policy).
        forward = _term_pattern(syn.term, case_sensitive=syn.kind == "abbreviation" and len(syn.term) <= 3)
        backward = _term_pattern(syn.expansion, case_sensitive=False) if syn.kind == "abbreviation" else None
        out.append((syn, forward, backward))
    return tuple(out)


def expansions(query: str) -> list[str]:
    """Terms the synonym table adds to a question, in table order, without repeats."""
    added: list[str] = []
    for syn, forward, backward in _patterns():
        if forward.search(query):
            added.append(syn.expansion)
        elif backward is not None and backward.search(query):
            added.append(syn.term)
    seen: set[str] = set()
    return [a for a in added if not (a.lower() in seen or seen.add(a.lower()))]


def expand_query(query: str) -> str:
    """The question followed by what the synonym table adds: "pinched nerve in the neck" -> "... radiculopathy
    radicular pain nerve root cervical"."""
    extra = expansions(query)
    return " ".join([query.strip(), *extra]) if extra else query.strip()


# --- hybrid search -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Passage:
    document_id: int
    document_title: str
    identifier: str
    version: int
    section: str
    text: str
    chunk_id: int
    ordinal: int
    char_start: int
    char_end: int
    score: float  # reciprocal rank fusion score: higher is better
    vector_rank: int | None = None
    text_rank: int | None = None

    @property
    def url(self) -> str:
        from django.urls import reverse

        return f"{reverse('policy_document', args=[self.document_id])}?chunk={self.chunk_id}#chunk-{self.ordinal}"


# Reciprocal rank fusion (Cormack et al., 2009): score = sum over the lists of 1 / (RRF_K + rank). k = 60 is the
# paper's constant; each list contributes its first CANDIDATES results.
RRF_K = 60
CANDIDATES = 40
# HNSW breadth at query time (pgvector's default is 40); iterative scans keep filtered queries from coming back
# short when many chunks belong to superseded versions.
EF_SEARCH = 80


def search(query: str, *, k: int = 5, document_ids: Iterable[int] | None = None,
           payer_type: str | None = None, payer_id: str | None = None) -> list[Passage]:
    """The k passages of current policy versions that best answer `query`.

    document_ids restricts to those documents (their current versions or not: a finding may cite any version);
    payer_type / payer_id restrict to documents that apply to that payer (a blank scope applies to all).
    """
    from django.db import connection, transaction

    query = " ".join((query or "").split())
    if not query:
        return []
    expanded = expand_query(query)
    from billing.embeddings import embed_one
    from billing.policy_models import PolicyDocument

    documents = PolicyDocument.objects.searchable(document_ids=document_ids, payer_type=payer_type,
                                                  payer_id=payer_id)
    ids = list(documents.values_list("pk", flat=True))
    if not ids:
        return []
    vector = embed_one(expanded)
    vector_text = "[" + ",".join(f"{v:.7g}" for v in vector) + "]"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL hnsw.ef_search = %s", [max(EF_SEARCH, CANDIDATES)])
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute(
            """
            SELECT id FROM (
                SELECT id, embedding <=> %s::vector AS distance FROM billing_policychunk
                WHERE document_id = ANY(%s) ORDER BY embedding <=> %s::vector LIMIT %s
            ) nearest ORDER BY distance
            """,
            [vector_text, ids, vector_text, CANDIDATES],
        )
        by_vector = [row[0] for row in cursor.fetchall()]
        # Full text: any of the question's words (after stemming and stop words), ranked by cover density, with
        # section titles weighted above body text. An OR query, because a lay question shares only a few words
        # with the policy ("how many times a year" -> "sessions ... rolling 12 months"); words found in a large
        # share of the library are left out of it (they rank nothing, and matching them would make PostgreSQL
        # rank most of the table: 600 ms among 50 000 chunks instead of a few).
        tsquery = _discriminating_tsquery(cursor, expanded)
        by_text = []
        if tsquery:
            cursor.execute(
                """
                SELECT id FROM billing_policychunk
                WHERE search @@ %s::tsquery AND document_id = ANY(%s)
                ORDER BY ts_rank_cd(search, %s::tsquery, 1) DESC, id LIMIT %s
                """,
                [tsquery, ids, tsquery, CANDIDATES],
            )
            by_text = [row[0] for row in cursor.fetchall()]
    return _fuse(by_vector, by_text, k=k)


# A word in more than this share of all chunks (and more than COMMON_FLOOR of them) is too common to search by
# ("service", "medicare", "code"); in a small library every word counts.
COMMON_SHARE = 0.02
COMMON_FLOOR = 200
# ...but a question keeps at least this many of its rarest words.
MIN_TERMS = 2


def _discriminating_tsquery(cursor, text: str) -> str:
    """An OR tsquery of the text's lexemes, without those found in more than COMMON_SHARE of the chunks."""
    cursor.execute("SELECT unnest(tsvector_to_array(to_tsvector('english', %s)))", [text])
    lexemes = [row[0] for row in cursor.fetchall()]
    if not lexemes:
        return ""
    frequencies, chunks = _lexeme_frequencies(cursor)
    ordered = sorted(lexemes, key=lambda lexeme: frequencies.get(lexeme, 0))
    limit = max(COMMON_SHARE * chunks, COMMON_FLOOR)
    def quoted(lexeme: str) -> str:
        return "'" + lexeme.replace("'", "''") + "'"

    keep = [quoted(lx) for lx in ordered if frequencies.get(lx, 0) <= limit]
    if len(keep) < MIN_TERMS:
        # Too few rare words: the commonest ones join as one AND group, which matches few chunks (an OR of common
        # words would have PostgreSQL rank a large share of the library: the slow tail of the searches).
        common = [quoted(lx) for lx in ordered[len(keep):len(keep) + MIN_TERMS]]
        if common:
            keep.append("(" + " & ".join(common) + ")")
    return " | ".join(keep)


_frequency_cache: dict[str, object] = {"key": None, "value": ({}, 0)}


def _lexeme_frequencies(cursor) -> tuple[dict[str, int], int]:
    """How many chunks hold each lexeme (ts_stat), computed once per process and again only after chunks were
    added (the newest chunk id changes; chunks are only ever added, with their document version): a few hundred
    ms among 50 000 chunks, once."""
    cursor.execute("SELECT max(id) FROM billing_policychunk")
    key = cursor.fetchone()[0]
    if _frequency_cache["key"] != key:
        cursor.execute("SELECT count(*) FROM billing_policychunk")
        chunks = cursor.fetchone()[0]
        cursor.execute("SELECT word, ndoc FROM ts_stat('SELECT search FROM billing_policychunk')")
        _frequency_cache["value"] = ({word: ndoc for word, ndoc in cursor.fetchall()}, chunks)
        _frequency_cache["key"] = key
    return _frequency_cache["value"]


def _fuse(by_vector: list[int], by_text: list[int], *, k: int) -> list[Passage]:
    from billing.policy_models import PolicyChunk

    scores: dict[int, float] = {}
    ranks: dict[int, list[int | None]] = {}
    for position, results in enumerate((by_vector, by_text)):
        for rank, chunk_id in enumerate(results, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
            ranks.setdefault(chunk_id, [None, None])[position] = rank
    best = sorted(scores, key=lambda c: (-scores[c], c))[:k]
    chunks = PolicyChunk.objects.select_related("document").defer("embedding", "document__text").in_bulk(best)
    out = []
    for chunk_id in best:
        chunk = chunks[chunk_id]
        doc = chunk.document
        out.append(Passage(document_id=doc.pk, document_title=doc.title, identifier=doc.identifier,
                           version=doc.version, section=chunk.section, text=chunk.text, chunk_id=chunk.pk,
                           ordinal=chunk.ordinal, char_start=chunk.char_start, char_end=chunk.char_end,
                           score=round(scores[chunk_id], 6), vector_rank=ranks[chunk_id][0],
                           text_rank=ranks[chunk_id][1]))
    return out
