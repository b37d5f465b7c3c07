"""ICD-10-CM diagnosis coding for spine surgery and pain procedure notes, read the way a coder reads them.

1. Where the diagnosis is: the postoperative diagnosis ("same"/"as above" sends us to the preoperative one),
   else the preoperative diagnosis, else a "Diagnosis:"/"Dx:"/"Assessment:" block, else the indication or
   clinical note, else the first sentences of the opening that name a condition. Headers said without a colon
   in a transcript ("pre op diagnosis ...", "post op diagnosis same", "diagnosis ...") count like typed ones.
   The indication also adds specificity the diagnosis line leaves out (a level, "with
   radiculopathy") and gives the definitive diagnosis when the diagnosis line only names a symptom
   (Official Guidelines I.B.4-5, IV.D: code the definitive diagnosis, not its routine symptoms).
2. What it says: each statement (list item, line, sentence) is scanned for condition phrases (`CONDITIONS`),
   manifestations that change the code ("with radiculopathy", "without neurogenic claudication"), levels
   (`billing.levels`), regions and sides. medspaCy ConText drops negated, uncertain ("possible", "rule out"),
   hypothetical and family statements (Guidelines IV.H: uncertain diagnoses are not coded in outpatient care);
   "consistent with" / "working diagnosis" in the indication of a procedure note (no diagnosis line) name the
   condition treated and are coded with a DX-CONCLUSION finding.
3. Which code: region from the level ("C5-C6" cervical, "L5-S1" lumbosacral), else the region word, else the
   levels of the procedure performed; cervical disc disorders by level (M50.x2x since FY2021); lumbar disc
   degeneration by pain type (M51.36x/M51.37x since FY2025, chosen from the tabular text); combination codes
   instead of pairs (disc disorder or spondylosis with radiculopathy/myelopathy); 7th characters from the
   tabular. Every code is checked billable in the release in effect on the date of service, and Excludes1
   pairs are resolved with the tabular notes (`billing.icd`).
4. What a person must look at (`Finding`): no diagnosis documented (DX-MISSING, warning), contradictions
   (DX-CONTRADICTION, warning), codes written in the note (DX-CODE-IN-TEXT, never copied), a code left
   unspecified for want of a level, region, side or cause (DX-UNSPECIFIED), uncertain diagnoses not coded
   (DX-UNCERTAIN), codes removed by an Excludes1 note (DX-EXCLUDES1), statements outside what this engine
   codes (DX-UNCODED), and a date of service outside the known code sets (DX-CODE-SET).

Pure Python plus medspaCy; no Django.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date

from billing import icd
from billing.levels import Interspace, LevelMention, find_levels
from billing.note import Context, Note, assess, split_sentences
from billing.results import DiagnosisCode, DiagnosisResult, Evidence, Finding

GUIDELINES = "ICD-10-CM Official Guidelines for Coding and Reporting FY2026"

# --- knowledge: condition phrases ------------------------------------------------------------------------

_REGION_ADJ = r"(?:(?:cervical|thoracic|lumbar|lumbosacral|intervertebral|spinal)\s+)?"
_DISC = r"(?:disc|disk)s?"
# A shared head noun: "back and leg pain" is back pain and leg pain. Matches "back" only, so that "leg pain"
# is read as a condition of its own.
_AND_LEG_PAIN = (r"(?=\s+(?:and|&|/|plus)\s+(?:(?:bilateral|left|right|radiating|buttock|and)\s+)*"
                 r"(?:leg|legs|lower\s+extremity)\s+pain\b)")

# kind -> phrases (case-insensitive). The kinds are what the code tables below are keyed on.
CONDITIONS: dict[str, str] = {
    "disc_displacement": (
        r"\bherniated\s+nucleus\s+pulposus\b|\bHNPs?\b|\bnucleus\s+pulposus\s+herniations?\b"
        r"|\b(?:herniated|herniating|protruding|protruded|extruded|bulging|ruptured|prolapsed|displaced|sequestered"
        r"|slipped)\s+" + _REGION_ADJ + _DISC + r"\b"
        r"|\b(?:disc|disk)\s+(?:herniations?|protrusions?|extrusions?|bulges?|bulging|displacements?|prolapses?"
        r"|ruptures?|fragments?|sequestrations?)\b"
        r"|\b(?:re)?herniations?\b|\bfree\s+fragments?\b"
    ),
    "disc_degeneration": (
        r"\bdegenerative\s+" + _REGION_ADJ + r"(?:disc|disk)\s+disease\b|\bDDD\b|\b(?:disc|disk)\s+degeneration\b"
        r"|\bdegenerat(?:ed|ive|ing)\s+" + _REGION_ADJ + _DISC + r"\b"
        r"|\bdegeneration\s+of\s+(?:the\s+)?" + _REGION_ADJ + _DISC + r"\b"
        # Degeneration counted by level is disc degeneration: a level is a disc space.
        r"|\b(?:single|one|two|three|multi|multiple)[- ]?levels?\s+(?:(?:disc|disk)\s+)?degenerat\w*"
        r"|\b(?:disc|disk)\s+(?:desiccation|space\s+(?:narrowing|collapse))\b"
    ),
    "annular_tear": r"\bannul(?:ar|us)\s+(?:fibrosus\s+)?(?:tears?|fissures?|defects?)\b",
    "stenosis": (
        r"\b(?:(?:spinal|canal|central|foraminal|neuroforaminal|neural\s+foraminal|lateral\s+recess|subarticular)"
        r"\s+(?:canal\s+)?)*stenos[ie]s\b|\b(?:neuro)?foraminal\s+narrowing\b|\bcanal\s+narrowing\b"
        r"|\bLSS\b"  # lumbar spinal stenosis
    ),
    "spondylolisthesis": r"\b(?:spondylolisthesis|anterolisthesis|retrolisthesis)\b",
    "spondylolysis": r"\bspondylolys[ie]s\b|\bpars\s+(?:interarticularis\s+)?(?:defects?|fractures?)\b",
    "spondylosis": (
        r"\bspondylos[ie]s\b|\bspondylotic\b"
        r"|\b(?:osteoarthritis|arthritis|degenerative\s+joint\s+disease|DJD|arthrosis|OA)\s+(?:of\s+)?(?:the\s+)?"
        r"(?:(?:cervical|thoracic|lumbar|lumbosacral)\s+)?spine\b"
        r"|\b(?:cervical|thoracic|lumbar|lumbosacral)\s+(?:spine\s+)?(?:osteoarthritis|degenerative\s+joint\s+disease"
        r"|DJD|arthrosis)\b"
        r"|\buncovertebral\s+(?:joint\s+)?(?:arthropathy|arthrosis|hypertrophy|spurring|osteophytes?)\b"
    ),
    # Category M47 "includes: degeneration of facet joints" -> spondylosis without myelopathy/radiculopathy.
    "facet_arthropathy": (
        r"\bfacet(?:\s+joint)?s?[\s,]+(?:arthropathy|arthrosis|arthritis|osteoarthritis|hypertrophy|degeneration"
        r"|disease|DJD)\b"
        r"|\b(?:arthropathy|arthrosis|arthritis|osteoarthritis|hypertrophy|degeneration)\s+of\s+the\s+"
        r"(?:\w+\s+){0,2}facet(?:\s+joint)?s?\b"
        r"|\bfacet\s+(?:joint\s+)?(?:hypertrophic|degenerative)\s+(?:changes|disease)\b"
        r"|\bzygapophys[ie]al\s+(?:joint\s+)?(?:arthropathy|arthrosis|arthritis)\b"
    ),
    # Index: Syndrome, facet -> M47.89- (other spondylosis).
    "facet_syndrome": r"\bfacet(?:\s+joint)?\s+(?:syndrome|pain)\b|\bfacetogenic\s+(?:pain|syndrome)\b"
                      r"|\bfacet[- ]mediated\s+pain\b",
    "radiculopathy": (
        r"\bradiculopath(?:y|ies)\b|\bradiculitis\b|\bradic\b|\bradicular\s+(?:pain|symptoms|syndrome|complaints)\b"
        r"|\bnerve\s+root\s+(?:compression|impingement|irritation)\b|\bbrachial\s+neuritis\b|\bpinched\s+nerve\b"
        # The verb said of a lesion: "herniation compressing the left S1 root" (index: Compression, nerve root,
        # in intervertebral disc disorder -> M51.1-).
        r"|\b(?:compress(?:es|ed|ing)|impinging|impinges)\s+(?:on\s+|upon\s+)?(?:the\s+)?(?:[\w-]+\s+){0,3}?"
        r"(?:nerve\s+)?roots?\b"
    ),
    "myelopathy": r"\bmyelopath(?:y|ies)\b|\bmyelomalacia\b",
    "cord_compression": r"\b(?:spinal\s+)?cord\s+compression\b|\bcompression\s+of\s+the\s+(?:spinal\s+)?cord\b"
                        # "spondylosis ... compressing the spinal cord" (M47.1: spondylogenic compression of cord)
                        r"|\b(?:compress(?:es|ed|ing)|impinging|impinges)\s+(?:on\s+|upon\s+)?(?:the\s+)?"
                        r"(?:(?:spinal|cervical|thoracic)\s+)?cord\b",
    "neurogenic_claudication": r"\b(?:neurogenic|spinal|pseudo)[- ]?claudication\b"
                               r"|(?:(?<=\bw/\s)|(?<=\bwith\s))(?-i:NC)\b",  # "LSS w/ NC"
    "sciatica": r"\bsciatica\b",
    "neck_pain": r"\bneck\s+pain\b|\bcervicalgia\b|\bcervical\s+(?:spine\s+)?pain\b|\bpain\s+in\s+the\s+neck\b",
    "low_back_pain": (
        r"\blow(?:er)?\s+back\s+(?:pain|syndrome)\b|\blumbago\b|\bLBP\b|\blumbar\s+(?:spine\s+|back\s+)?pain\b"
        r"|\bpain\s+in\s+the\s+(?:low(?:er)?\s+back|lumbar\s+(?:spine|region))\b"
        r"|\b(?:discogenic|axial|mechanical|vertebrogenic)\s+(?:low\s+)?back\s+pain\b"
        r"|\blow(?:er)?\s+back" + _AND_LEG_PAIN
    ),
    "back_pain": r"\bback\s*(?:pain|ache)\b|\bdorsalgia\b|\bback" + _AND_LEG_PAIN,
    "thoracic_pain": r"\b(?:thoracic|mid|upper)[- ](?:spine\s+|back\s+)?pain\b|\bmid[- ]?back\s+pain\b"
                     r"|\bpain\s+in\s+(?:the\s+)?thoracic\s+spine\b",
    "leg_pain": (
        r"\b(?:leg|legs|lower\s+extremit(?:y|ies)|lower\s+limbs?)\s+pain\b"
        r"|\b(?:referr(?:ing|ed)|radiat(?:ing|es|ed)|shooting|going|travel+ing)\s+(?:(?:down|into|to|in)\s+)+"
        r"(?:the\s+|both\s+|his\s+|her\s+)?(?:(?:left|right|bilateral)\s+)?(?:leg|legs|lower\s+extremit(?:y|ies))\b"
        r"|\bpain\s+in\s+(?:the\s+|both\s+)?(?:(?:left|right)\s+)?(?:leg|legs|lower\s+extremit(?:y|ies))\b"
    ),
    "arm_pain": (
        r"\b(?:arm|arms|upper\s+extremit(?:y|ies)|upper\s+limbs?)\s+pain\b"
        r"|\b(?:referr(?:ing|ed)|radiat(?:ing|es|ed)|shooting|going|travel+ing)\s+(?:(?:down|into|to|in)\s+)+"
        r"(?:the\s+|both\s+|his\s+|her\s+)?(?:(?:left|right|bilateral)\s+)?(?:arm|arms|upper\s+extremit(?:y|ies))\b"
    ),
    "sacroiliitis": r"\bsacroil(?:i)?itis\b|\b(?:(?:sacroiliac|SI)\s+joint|SIJ)\s+(?:arthritis|arthropathy"
                    r"|osteoarthritis|inflammation|arthrosis)\b",
    "si_instability": r"\b(?:(?:sacroiliac|SI)\s+joint|SIJ)\s+instability\b",
    # M53.2- spinal instabilities, by region (flexion-extension translation, "dynamic instability").
    "instability": r"\b(?:segmental|spinal|dynamic|mechanical|translational|cervical|thoracic|lumbar)\s+instability\b"
                   r"|(?<!joint\s)(?<!SIJ\s)\binstability\s+(?:at|of)\s+(?:the\s+)?(?:[CTL]\d|cervical|thoracic|lumbar)",
    # Index: Pain, sacroiliac -> M53.3 (sacrococcygeal disorders NEC), which also holds coccygodynia.
    "si_joint_pain": r"\b(?:sacroiliac|SI|SIJ)\s+(?:joint\s+)?(?:dysfunction|pain|syndrome|derangement|disorder)\b"
                     r"|\bcoccy(?:go)?dynia\b",
    "postlaminectomy": r"\bpost[- ]?laminectomy\s+(?:pain\s+)?syndrome\b|\bfailed\s+(?:back|neck|spine|spinal)"
                       r"\s+(?:surgery\s+)?syndrome\b|\bFBSS\b|\bfailed\s+back\b",
    "pseudarthrosis": r"\bpseudo?arthros[ie]s\b|\bfailed\s+(?:spinal\s+)?fusion\b"
                      r"|\bnon-?union\s+of\s+(?:the\s+)?(?:prior\s+)?(?:spinal\s+)?fusion\b",
    "fracture": r"\bfractures?\b|\bfxs?\b|\bvertebral\s+(?:body\s+)?collapse\b|\bcollapsed\s+vertebra(?:e|l\s+body)?\b",
    "scoliosis": r"\b(?:kypho)?scolios[ie]s\b|\bscoliotic\s+(?:curve|deformity)\b",
    "kyphosis": r"\bkyphos[ie]s\b|\bkyphotic\s+deformity\b|\bflat\s*back\s+(?:syndrome|deformity)\b|\bflatback\b"
                r"|\bScheuermann'?s?\s+(?:disease|kyphosis)\b",
    # M79.1 Myalgia, inclusion term "Myofascial pain syndrome"; the index sends it to M79.18.
    "myofascial_pain": r"\bmyofascial\s+(?:pain(?:\s+syndrome)?|syndrome|dysfunction)\b",
    # M79.1- Myalgia by site (M79.11 mastication, M79.12 auxiliary muscles of head and neck, M79.18 other).
    "myalgia": r"\bmyalgias?\b",
    "cervical_dystonia": r"\bcervical\s+dystonia\b|\bspasmodic\s+torticollis\b",
    "torticollis": r"\btorticollis\b",
    "occipital_neuralgia": r"\boccipital\s+neuralgia\b",
    "cervicogenic_headache": r"\bcervicogenic\s+headaches?\b",
    # T84.84- Pain due to internal orthopedic prosthetic devices, implants and grafts (index: Complication,
    # internal orthopedic device, pain). Removal or revision for it is active treatment (7th character A).
    "painful_hardware": (
        r"\b(?:painful|symptomatic)\s+(?:retained\s+)?(?:(?:posterior|anterior|spinal|spine|lumbar|cervical|thoracic"
        r"|pedicle|segmental|orthopedic)\s+)*(?:hardware|instrumentation|implants?|screws?|rods?|plates?)\b"
        r"|\bpain\s+(?:due\s+to|from|related\s+to|caused\s+by|secondary\s+to)\s+(?:the\s+)?(?:retained\s+)?"
        r"(?:spinal\s+)?(?:hardware|instrumentation|implants?)\b|\bhardware[- ](?:related\s+)?pain\b"
    ),
    # T84.21-/T84.22-/T84.29- mechanical complication of an internal fixation device of vertebrae (index:
    # Complication, fixation device, internal, vertebrae, breakdown / displacement / specified NEC).
    "hardware_failure": (
        r"\b(?:broken|fractured|failed|loose|loosened|displaced|migrated|malpositioned|backed[- ]out|pulled[- ]out)"
        r"\s+(?:(?:pedicle|spinal|posterior|anterior|lumbar|cervical|thoracic|iliac|S2AI|interbody"
        r"|[CTLS]\d{1,2}(?:-[CTLS]?\d{1,2})?)\s+)*(?:hardware|instrumentation|screws?|rods?|plates?|cages?|construct)\b"
        r"|\b(?:hardware|instrumentation|screw|rod|plate|cage|construct)\s+(?:failure|fracture|breakage|loosening"
        r"|migration|displacement|pull-?out|malposition|subsidence)\b"
    ),
    # G90.5- CRPS type I (reflex sympathetic dystrophy) by limb and side; type II is causalgia G56.4-/G57.7-.
    "crps": (
        r"\bcomplex\s+regional\s+pain\s+syndrome(?:\s*,?\s*(?:type\s+)?(?:I{1,2}|1|2|one|two)\b)?"
        r"|\bCRPS(?:\s*-?\s*(?:type\s+)?(?:I{1,2}|1|2|one|two)\b)?|\breflex\s+sympathetic\s+dystrophy\b|\bRSD\b"
        r"|\bcausalgia\b"
    ),
    # C90.0- multiple myeloma, C90.3- solitary plasmacytoma: the neoplasm behind a pathological vertebral
    # fracture (M84.5- "code also underlying neoplasm").
    "myeloma": r"\b(?:multiple|plasma\s+cell)\s+myeloma\b|\bmyeloma\b|\bplasmacytoma\b",
    # C79.51 secondary malignant neoplasm of bone: metastases to a vertebra (the primary is left to a coder).
    "bone_metastasis": r"\bmetasta(?:sis|ses|tic)\b",
}
_CONDITION_RE = {kind: re.compile(pattern, re.IGNORECASE) for kind, pattern in CONDITIONS.items()}

DISC_KINDS = frozenset({"disc_displacement", "disc_degeneration", "annular_tear"})
SPONDYLOSIS_KINDS = frozenset({"spondylosis", "facet_arthropathy", "facet_syndrome"})
# Manifestations: they change the code of the condition they are linked to ("with radiculopathy") and are
# coded on their own only when nothing takes them.
MANIFESTATIONS = frozenset({
    "radiculopathy", "myelopathy", "cord_compression", "neurogenic_claudication", "sciatica",
    "leg_pain", "low_back_pain", "back_pain",
})
# Signs and symptoms routinely part of a definitive spine diagnosis of the same region are not coded with it
# (Guidelines I.B.5). Value: the body region the symptom belongs to.
SYMPTOMS: dict[str, str] = {
    "neck_pain": "cervical", "arm_pain": "cervical", "low_back_pain": "lumbar", "back_pain": "lumbar",
    "thoracic_pain": "thoracic", "leg_pain": "lumbar", "sciatica": "lumbar",
}
# Sciatica is only integral to a radicular diagnosis (M54.3 Excludes1: sciatica due to disc disorder M51.1-).
_RADICULAR_CODES = ("M50.1", "M51.1", "M47.2", "M54.1")
# Which manifestations each condition takes into its own code.
ACCEPTS: dict[str, frozenset[str]] = {
    **{kind: frozenset({"radiculopathy", "myelopathy", "cord_compression", "sciatica", "leg_pain",
                        "low_back_pain", "back_pain"}) for kind in DISC_KINDS},
    "spondylosis": frozenset({"radiculopathy", "myelopathy", "cord_compression"}),
    "stenosis": frozenset({"neurogenic_claudication"}),
    "low_back_pain": frozenset({"sciatica"}),
    "back_pain": frozenset({"sciatica"}),
}
# Conditions a "history of" statement still supports: they ARE the after-effect of past surgery.
HISTORY_OK = frozenset({"postlaminectomy", "pseudarthrosis"})
# Conditions whose region, when the statement gives none, is where the procedure was done.
STRUCTURAL = DISC_KINDS | SPONDYLOSIS_KINDS | frozenset({
    "stenosis", "spondylolisthesis", "spondylolysis", "fracture", "scoliosis", "kyphosis",
})

# --- knowledge: regions, levels, sides --------------------------------------------------------------------

# Head to tail; neighbours are compatible ("lumbar radiculopathy" and an L5-S1 disc are one region family).
REGIONS = ("occipito", "cervical", "cervicothoracic", "thoracic", "thoracolumbar", "lumbar", "lumbosacral", "sacral")
_REGION_WORDS = (
    ("occipito", r"occipito[- ]?atlanto[- ]?axial|cranio[- ]?cervical|atlanto[- ]?(?:axial|occipital)"),
    ("cervicothoracic", r"cervico[- ]?thoracic"),
    ("thoracolumbar", r"thoraco[- ]?lumbar"),
    ("lumbosacral", r"lumbo[- ]?sacral"),
    ("sacral", r"sacrococcygeal|sacral|sacrum"),
    ("cervical", r"cervical|neck|c-spine"),
    ("thoracic", r"thoracic|t-spine|mid[- ]?back"),
    ("lumbar", r"lumbar|low(?:er)?\s+back|l-spine|lumbago|LSS"),
)
_REGION_RE = re.compile("|".join(rf"(?P<{name}>\b(?:{words})\b)" for name, words in _REGION_WORDS), re.IGNORECASE)
_VERTEBRA_REGION = {"C": "cervical", "T": "thoracic", "L": "lumbar", "S": "sacral"}
# A capital R or L alone is a side only before a limb or side word ("CRPS R lower extremity", "L sided pain").
_LIMB_AFTER = (r"(?=\s+(?:upper|lower|leg|legs|arm|arms|foot|hand|knee|hip|ankle|wrist|shoulder|elbow|buttock|thigh"
               r"|calf|side|sided)\b)")
_SIDE_RE = re.compile(r"\b(?:(?P<both>bilateral(?:ly)?|bilat|b/l|both\s+sides|(?:right|left)\s+(?:greater|worse|>)\s+"
                      r"(?:than\s+)?(?:right|left))|(?P<left>left|(?-i:[Ll]t)|(?-i:L)" + _LIMB_AFTER + r")"
                      r"|(?P<right>right|(?-i:[Rr]t)|(?-i:R)" + _LIMB_AFTER + r"))\b",
                      re.IGNORECASE)  # "Rt"/"rt", never "RT" (radiation therapy)

# ICD-10-CM 5th character for a region in the M40-M54 "site" subdivisions.
SITE_DIGIT = {"occipito": "1", "cervical": "2", "cervicothoracic": "3", "thoracic": "4", "thoracolumbar": "5",
              "lumbar": "6", "lumbosacral": "7", "sacral": "8"}
# M50 since FY2021: high cervical (C2-C3, C3-C4), mid-cervical by level, cervicothoracic (C7-T1).
CERVICAL_DISC_LEVEL = {"C2-C3": "1", "C3-C4": "1", "C4-C5": "21", "C5-C6": "22", "C6-C7": "23", "C7-T1": "3"}
# M51: thoracic 4, thoracolumbar 5, lumbar 6, lumbosacral 7.
THORACOLUMBAR_DISC_DIGIT = {"thoracic": "4", "thoracolumbar": "5", "lumbar": "6", "lumbosacral": "7"}
# 4th character of M50/M51 by what the disc disorder comes with.
DISC_AXIS = {"myelopathy": "0", "radiculopathy": "1", "disc_displacement": "2", "disc_degeneration": "3",
             "annular_tear": "8"}
# M51.36-/M51.37- (FY2025): the 6th character is chosen from the tabular descriptions.
PAIN_TYPE_PHRASES = {
    (True, False): "with discogenic back pain only",
    (False, True): "with lower extremity pain only",
    (True, True): "with discogenic back pain and lower extremity pain",
    (False, False): "without mention of",
}
# (category, unspecified-site suffix) for conditions subdivided by region only.
SITE_CATEGORIES: dict[str, tuple[str, str]] = {
    "spondylosis": ("M47.81", "9"),
    "spondylosis_myelopathy": ("M47.1", "0"),
    "spondylosis_radiculopathy": ("M47.2", "0"),
    "facet_syndrome": ("M47.89", "9"),
    "stenosis": ("M48.0", "0"),
    "spondylolisthesis": ("M43.1", "0"),
    "instability": ("M53.2X", "9"),
    "spondylolysis": ("M43.0", "0"),
    "radiculopathy": ("M54.1", "0"),
    "collapsed_vertebra": ("M48.5", "0"),
    "scoliosis_neuromuscular": ("M41.4", "0"),
    "scoliosis_adolescent": ("M41.12", "9"),
    "scoliosis_juvenile": ("M41.11", "9"),
    "scoliosis_infantile": ("M41.0", "0"),
    "scoliosis_idiopathic": ("M41.2", "0"),
    "scoliosis_other": ("M41.8", "0"),
    "scoliosis_thoracogenic": ("M41.3", "0"),
    "kyphosis": ("M40.20", "9"),
    "kyphosis_flatback": ("M40.3", "0"),
    "kyphosis_scheuermann": ("M42.0", "0"),
}
# Scoliosis type by the words of its statement (index: Scoliosis, neuromuscular/paralytic -> M41.4-).
SCOLIOSIS_TYPES = (
    ("scoliosis_neuromuscular", r"neuromuscular|neurogenic|neurologic|paralytic|cerebral\s+palsy|dystrophy"
                                r"|myelomeningocele|spina\s+bifida|polio"),
    ("scoliosis_adolescent", r"adolescent"),
    ("scoliosis_juvenile", r"juvenile"),
    ("scoliosis_infantile", r"infantile"),
    ("scoliosis_idiopathic", r"idiopathic"),
    ("scoliosis_thoracogenic", r"thoracogenic"),
    ("scoliosis_other", r"degenerative|de\s+novo|adult"),
)
KYPHOSIS_TYPES = (
    ("postlaminectomy_kyphosis", r"post[- ]?laminectomy"),
    ("kyphosis_scheuermann", r"scheuermann"),
    ("kyphosis_flatback", r"flat\s*back"),
)
# Codes that need no region or level.
FIXED_CODES = {
    "sacroiliitis": "M46.1", "si_instability": "M53.2X8", "si_joint_pain": "M53.3", "postlaminectomy": "M96.1",
    "pseudarthrosis": "M96.0", "myofascial_pain": "M79.18", "cervical_dystonia": "G24.3", "torticollis": "M43.6",
    "occipital_neuralgia": "M54.81", "cervicogenic_headache": "G44.86", "neck_pain": "M54.2",
    "thoracic_pain": "M54.6", "myelopathy": "G95.9", "cord_compression": "G95.20", "scoliosis": "M41.9",
    "postlaminectomy_kyphosis": "M96.3",
}
# The region a region-less code belongs to, so that service lines of that region point to it.
FIXED_REGIONS = {
    "sacroiliitis": "sacral", "si_instability": "sacral", "si_joint_pain": "sacral", "neck_pain": "cervical",
    "occipital_neuralgia": "cervical", "cervicogenic_headache": "cervical", "cervical_dystonia": "cervical",
    "torticollis": "cervical", "thoracic_pain": "thoracic",
}
SIDED_CODES = {
    "sciatica": {"right": "M54.31", "left": "M54.32", None: "M54.30"},
    "lumbago_with_sciatica": {"right": "M54.41", "left": "M54.42", None: "M54.40"},
    "leg_pain": {"right": "M79.604", "left": "M79.605", None: "M79.606"},
    "arm_pain": {"right": "M79.601", "left": "M79.602", None: "M79.603"},
}
# Back pain by region (M54.5- low back, M54.6 thoracic, M54.2 neck, M54.9 dorsalgia unspecified).
BACK_PAIN_BY_REGION = {"cervical": "M54.2", "cervicothoracic": "M54.2", "thoracic": "M54.6",
                       "thoracolumbar": "M54.6", "lumbar": "M54.50", "lumbosacral": "M54.50", "sacral": "M54.50"}

# Fractures: the cause decides the category (index: Fracture, pathological, due to osteoporosis -> M80.0-;
# due to neoplastic disease -> M84.5-; Collapse, vertebra -> M48.5-; Fracture, traumatic -> S12/S22/S32).
FRACTURE_CAUSES = (
    ("osteoporotic", r"osteopor|fragility|insufficiency"),
    ("neoplastic", r"metasta|neoplas|malignan|myeloma|tumou?r|cancer|lymphoma"),
    ("pathological", r"patholog"),
    ("traumatic", r"traum|burst|\bchance\s+fracture|flexion[- ]distraction|\bfell\b|\bfall\b|accident|injur|\bmvc\b"),
    ("collapse", r"compression|collapse|wedg"),
)
# A cause the note rules out is no cause: "no fall, no trauma", "atraumatic", "non-traumatic".
_NEGATED_CAUSE = re.compile(r"\b(?:no|not|without|denies|negative\s+for)\s+(?:\w+\s+){0,2}?(?:fall|trauma\w*|injur\w*"
                            r"|accident)\b|\b(?:a|non-?)traum\w*", re.IGNORECASE)
_OSTEOPOROSIS = re.compile(r"\b(?:(?:drug|steroid|glucocorticoid)[- ]induced\s+)?osteopor\w*", re.IGNORECASE)
_OTHER_OSTEOPOROSIS = re.compile(r"drug[- ]induced|steroid[- ]induced|glucocorticoid|disuse|post[- ]?oophorectomy"
                                 r"|idiopathic\s+osteoporosis", re.IGNORECASE)
# S22.0- thoracic vertebra 5th character (T5-T6, T7-T8, T9-T10, T11-T12 share one).
THORACIC_FRACTURE_DIGIT = {1: "1", 2: "2", 3: "3", 4: "4", 5: "5", 6: "5", 7: "6", 8: "6", 9: "7", 10: "7",
                           11: "8", 12: "8"}
# Index: Fracture, vertebra, burst (stable) -> .x1, unstable -> .x2: "(stable)" is a nonessential modifier, so a
# burst fracture not called unstable is stable.
FRACTURE_TYPE_DIGIT = (("2", r"unstable\s+burst"), ("1", r"burst"), ("0", r"wedge|compression"),
                       ("9", r""))
ENCOUNTERS = (("routine healing", r"subsequent|routine\s+healing|follow[- ]?up"), ("delayed healing", r"delayed"),
              ("nonunion", r"non-?union"), ("malunion", r"mal-?union"), ("sequela", r"sequela|late\s+effect"))

# --- where diagnoses are written --------------------------------------------------------------------------

_LABEL_START = r"(?:(?<=^)|(?<=\n)|(?<=[.;]\s)|(?<=[.;]\s\s)|(?<=[.;]))[ \t]*"
_LABEL_END = r"[ \t]*(?:\((?:s|es)\))?[ \t]*(?::|-\s|(?=[ \t]*\n)|[ \t]+(?:is|are|was|were)\s)"
_OP = r"[- ]?(?:operative|op|procedur(?:e|al))"
# "Dx" is the universal abbreviation of diagnosis in terse notes ("Dx:", "Preop/postop dx:").
_DX = r"(?:diagnos[ie]s|dx)"
DIAGNOSIS_LABELS = (
    ("postoperative", rf"pre{_OP}?\s*(?:and|&|/)\s*post{_OP}\s+{_DX}"),
    ("postoperative", rf"post{_OP}\s+{_DX}"),
    ("preoperative", rf"pre{_OP}\s+{_DX}"),
    ("diagnosis", r"(?:final\s+|primary\s+|secondary\s+|clinical\s+|working\s+|procedure\s+)?" + _DX
                  + r"|assessment|impression"),
    ("indications", r"indications?(?:\s+(?:for|of)\s+(?:the\s+)?(?:procedure|surgery|operation))?"
                    r"|reason\s+for\s+(?:the\s+)?(?:procedure|surgery|operation|visit|referral)"
                    r"|clinical\s+(?:note|history|summary)|history\s+of\s+present\s+illness|HPI|brief\s+history"
                    r"|chief\s+complaint|history"),
)
_LABEL_RE = re.compile(
    _LABEL_START + "(?P<label>" + "|".join(f"(?P<{kind}{i}>{pattern})" for i, (kind, pattern)
                                          in enumerate(DIAGNOSIS_LABELS)) + ")" + _LABEL_END,
    re.IGNORECASE | re.MULTILINE,
)
# A diagnosis or indication label said at the start of a sentence, without a colon ("new paragraph diagnosis
# pathologic fracture L2 due to multiple myeloma period", "indications he is a 45 year old with ..."): it labels
# that one sentence.
_SPOKEN_LABEL_RE = re.compile(
    r"(?:(?<=^)|(?<=[\n.;]\s)|(?<=[\n.;])|(?<=\s\s))[ \t]*(?:the\s+)?(?:final\s+|primary\s+|working\s+)?"
    r"(?:(?P<diagnosis>diagnos[ie]s|dx|impression|assessment)"
    r"|(?P<indications>indications?(?:\s+for\s+(?:the\s+)?(?:procedure|surgery|operation))?"
    r"|reason\s+for\s+(?:the\s+)?(?:procedure|surgery|operation)))"
    r"\s+(?:(?:is|was|are|were)\s+)?(?:of\s+)?"
    r"(?!(?:and|or|to|with|made|discussed|options|plan|code|codes|same|as|for|at|were|was)\b)(?=[A-Za-z])",
    re.IGNORECASE,
)
# Any other "Label:" at the start of a line, or an all-capitals heading line naming a part of the note.
_OTHER_LABEL_RE = re.compile(
    r"(?m)^[ \t]*[A-Z][A-Z0-9 ,/&()'-]{1,60}:"
    r"|^[ \t]*[A-Z][A-Z0-9 ,/&()'-]*(?:OPERATION|PROCEDURE|DIAGNOS|INDICATION|ANESTHESIA|FINDING|COMPLICATION"
    r"|HISTORY|DESCRIPTION|TECHNIQUE|SPECIMEN|IMPLANT|DRAIN|BLOOD|PLAN|SURGEON|ASSISTANT|CONSENT|DISPOSITION"
    r"|SUMMARY|DETAIL|NOTE)[A-Z0-9 ,/&()'-]*[ \t]*$"
)
_SAME_RE = re.compile(r"^\W*(?:(?:is|was|are|were)\s+)?(?:the\s+)?(?:same|as\s+above|unchanged|same\s+as\s+(?:the\s+)?"
                      r"(?:above|pre[- ]?op(?:erative)?)(?:\s+(?:diagnos[ie]s|dx))?)\W*$", re.IGNORECASE)
# A dictated "post op diagnosis was the same period the procedure was ..." runs on past the word "same".
_SAME_START_RE = re.compile(r"^\W*(?:(?:is|was|are|were)\s+)?(?:the\s+)?(?:same|as\s+above|unchanged)\b", re.IGNORECASE)
# Sentences about consent and risks name conditions that are not the patient's ("risks include stenosis").
_NOT_CLINICAL_RE = re.compile(r"\b(?:risks?|consent|benefits|alternatives|complications\s+(?:include|such))\b",
                              re.IGNORECASE)
# Sections of billing.note that hold a diagnosis, by the block kind used here.
_SECTION_KINDS = {"postoperative_diagnosis": "postoperative", "preoperative_diagnosis": "preoperative",
                  "diagnosis": "diagnosis", "indications": "indications"}
_SOURCE_TITLES = {"postoperative": "Postoperative diagnosis", "preoperative": "Preoperative diagnosis",
                  "diagnosis": "Diagnosis", "indications": "Indication", "preamble": "Opening statement"}

# --- codes written in the note ----------------------------------------------------------------------------

_ICD10_IN_TEXT = re.compile(r"(?<![A-Za-z0-9.])[A-TV-Z][0-9][0-9A-Z]\.[0-9A-Z]{1,4}(?![A-Za-z0-9])")
_ICD10_UNDOTTED = re.compile(r"(?<![A-Za-z0-9.])[A-TV-Z][0-9]{2}[0-9A-Z]{1,4}(?![A-Za-z0-9.])")
_ICD9_IN_TEXT = re.compile(
    r"(?<![\w.])(?:[VE]\d{2,3}|\d{3})\.\d{1,2}(?![\w%]|\.\d)(?!\s*(?:mm|mg|cc|ml|cm|kg|mcg|units?|degrees?|°|F\b|C\b))",
    re.IGNORECASE,
)
_ICD_HINT = re.compile(r"icd|code", re.IGNORECASE)


# --- internal records -------------------------------------------------------------------------------------


@dataclass
class _Block:
    kind: str      # "postoperative", "preoperative", "diagnosis", "indications"
    start: int
    end: int


@dataclass
class _Mention:
    """One condition phrase in one statement, and what the statement says about it."""

    kind: str
    start: int
    end: int
    statement: tuple[int, int]
    source: str
    context: Context = field(default_factory=Context)
    levels: list[LevelMention] = field(default_factory=list)
    regions: set[str] = field(default_factory=set)
    region_spans: list[tuple[int, int]] = field(default_factory=list)
    sides: set[str] = field(default_factory=set)
    qualifiers: dict[str, bool] = field(default_factory=dict)   # manifestation -> with (True) / without (False)
    qualifier_spans: list[tuple[int, int]] = field(default_factory=list)
    qualifier_origin: dict[str, str] = field(default_factory=dict)
    found_in_body: tuple[int, int] | None = None   # spondylosis found in the body of the report
    level_origin: str = "statement"   # "statement", "indications", "procedure"
    region_origin: str = "statement"
    resolved_regions: list[str] = field(default_factory=list)
    resolved_levels: list[LevelMention] = field(default_factory=list)
    contradicted: set[str] = field(default_factory=set)


@dataclass
class _Candidate:
    code: str
    mention: _Mention
    region: str | None
    levels: tuple[str, ...]
    what: str                      # plain words for the rationale ("lumbar disc displacement")
    unspecified: str = ""          # what is missing, for DX-UNSPECIFIED
    rank: int = 3                  # 3 definitive, 2 manifestation coded alone, 1 symptom


# --- entry point ------------------------------------------------------------------------------------------


def code_diagnoses(note: Note, *, date_of_service: date | None = None) -> DiagnosisResult:
    """ICD-10-CM codes for what the note documents as the reason for the procedure, with findings."""
    version = icd.code_set_for(date_of_service) if date_of_service else None
    with icd.code_set(version) as loaded:
        findings: list[Finding] = []
        if loaded.note:
            findings.append(Finding("DX-CODE-SET", "info", loaded.note, source_title=loaded.name))
        codes = _code(note, findings)
    return DiagnosisResult(codes=codes, findings=findings)


def _code(note: Note, findings: list[Finding]) -> list[DiagnosisCode]:
    text = note.text or ""
    blocks = _diagnosis_blocks(note)
    written = _codes_written(text, blocks)
    findings.extend(_code_in_text_findings(text, written))
    masked = _expand_shorthand(_mask(text, [(start, end) for start, end, _ in written]))
    levels = _slip_levels(masked, find_levels(masked))
    procedure = _procedure_context(note, masked, levels)

    chosen, source = _choose_blocks(masked, blocks)
    mentions = _read_blocks(masked, chosen, levels, findings)
    indications = [b for b in blocks if b.kind == "indications"]
    indication_mentions = _read_blocks(masked, indications, levels, []) if source != "indications" else []
    if not mentions:
        mentions = indication_mentions or _read_blocks(masked, _opening_block(note), levels, findings)
    elif all(m.kind in SYMPTOMS for m in mentions):
        # A symptom on the diagnosis line and its cause in the indication: code the cause (Guidelines IV.D).
        mentions += [m for m in indication_mentions if m.kind not in SYMPTOMS]
    _enrich_from_indications(mentions, indication_mentions)
    for mention in mentions:
        _resolve_region(mention, procedure, mentions)
    _share_regional_qualifiers(mentions)
    mentions = _merge_manifestations(mentions)
    _radiculopathy_with_spondylosis(note, masked, mentions, levels)
    findings.extend(_contradictions(mentions, procedure, text))

    candidates = [c for m in mentions for c in _candidates(m, masked)]
    candidates = _drop_integral_symptoms(candidates)
    candidates = _drop_excluded(candidates, findings, masked)
    codes = _sequence(_to_codes(candidates, text))
    findings.extend(_unspecified_findings(candidates, text))
    if not codes:
        findings.append(_missing_finding(chosen))
    findings.extend(_uncoded_findings(masked, text, chosen))
    return codes


# A slip named by its two vertebrae ("spondylolisthesis of L5 on S1", "L4 on L5 anterolisthesis") is at the
# interspace between them: the motion segment that slipped, whose region gives the code (L5-S1 lumbosacral).
_SLIP_GAP = re.compile(r"[ \t]+on[ \t]+$")
_SLIP_WORDS = re.compile(r"listhes[ie]s|\bslip", re.IGNORECASE)


def _slip_levels(text: str, levels: list[LevelMention]) -> list[LevelMention]:
    out: list[LevelMention] = []
    for level in levels:
        previous = out[-1] if out else None
        if (previous is not None and previous.form == "vertebra" and level.form == "vertebra"
                and len(previous.vertebrae) == 1 and len(level.vertebrae) == 1
                and _SLIP_GAP.match(text[previous.end:level.start])
                and previous.vertebrae[0].next() == level.vertebrae[0]
                and _SLIP_WORDS.search(text, max(0, previous.start - 80), min(len(text), level.end + 40))):
            upper, lower = previous.vertebrae[0], level.vertebrae[0]
            out[-1] = LevelMention(previous.start, level.end, text[previous.start:level.end],
                                   (Interspace(upper, lower),), (upper, lower), "interspace")
            continue
        out.append(level)
    return out


# --- 1. where the diagnosis is ---------------------------------------------------------------------------


def _diagnosis_blocks(note: Note) -> list[_Block]:
    """Every labelled diagnosis or indication passage, each running to the next label of any kind."""
    text = note.text or ""
    stops = sorted({s.end for s in note.sections} | {m.start() for m in _OTHER_LABEL_RE.finditer(text)}
                   | {m.start() for m in _LABEL_RE.finditer(text)} | {len(text)})
    blocks = []
    for match in _LABEL_RE.finditer(text):
        kind = next(name.rstrip("0123456789") for name, value in match.groupdict().items()
                    if value and name != "label")
        start = match.end()
        end = min(stop for stop in stops if stop > start) if start < len(text) else start
        if text[start:end].strip():
            blocks.append(_Block(kind, start, end))
    # Headers the note reader found that carry no colon: a dictated "pre op diagnosis ... post op diagnosis
    # same" in a raw transcript. They are read like typed ones; a typed label already read wins.
    for section in note.sections:
        kind = _SECTION_KINDS.get(section.name)
        if kind and text[section.start:section.end].strip() and not any(
                b.start <= section.start < b.end or section.start <= b.start < section.end for b in blocks):
            blocks.append(_Block(kind, section.start, section.end))
    for match in _SPOKEN_LABEL_RE.finditer(text):
        sentence = next(((a, b) for a, b in note.sentences if a <= match.end() < b), None)
        if sentence and not any(b.start <= match.end() < b.end for b in blocks):
            blocks.append(_Block(match.lastgroup or "diagnosis", match.end(), sentence[1]))
    return sorted(blocks, key=lambda b: b.start)


def _choose_blocks(text: str, blocks: list[_Block]) -> tuple[list[_Block], str]:
    """Postoperative first ("same" sends us to the preoperative), then preoperative, diagnosis, indication."""
    by_kind: dict[str, list[_Block]] = {}
    for block in blocks:
        by_kind.setdefault(block.kind, []).append(block)
    post = [b for b in by_kind.get("postoperative", []) if not _is_same(text, b)]
    if post and by_kind.get("preoperative") and all(_SAME_START_RE.match(text[b.start:b.end]) for b in post):
        # "Postoperative diagnosis same, large extruded fragment at L4-5": the preoperative diagnosis, plus what
        # surgery added to it.
        return by_kind["preoperative"] + post, "postoperative"
    if post:
        return post, "postoperative"
    for kind in ("preoperative", "diagnosis", "indications"):
        if by_kind.get(kind):
            return by_kind[kind], kind
    return [], ""


def _is_same(text: str, block: _Block) -> bool:
    """A postoperative diagnosis of "same" ("as above", "same as preop") points to the preoperative one; so does
    a first statement that starts with "same" and names no condition of its own."""
    if _SAME_RE.match(text[block.start:block.end]):
        return True
    statements = _statements(text, block)
    if not statements or not _SAME_START_RE.match(text[slice(*statements[0])]):
        return False
    return not any(pattern.search(text, *statements[0]) for pattern in _CONDITION_RE.values())


def _opening_block(note: Note) -> list[_Block]:
    """With no labelled diagnosis at all, the opening of the note may state it ("Lumbar radiculopathy.
    Procedure: ..."; "this is the dictation for Mr. X period he has lumbar stenosis with ..."): the first
    sentence that names a condition and the one after it. The opening is the text before the first header,
    typed or spoken; nothing further into the narrative is read."""
    headers = [s for s in note.sections if s.name != "preamble"]
    end = min((_header_start(note.text, s) for s in headers), default=len(note.text))
    sentences = [span for span in note.sentences if span[0] < end]
    first = next((i for i, (a, b) in enumerate(sentences)
                  if any(p.search(note.text, a, min(b, end)) for p in _CONDITION_RE.values())), None)
    if first is None:
        return []
    # One block per sentence, so that a consent or risk sentence that follows is skipped on its own and does not
    # take the diagnosis sentence with it (unpunctuated speech: "... C7 radiculopathy procedure ... consent signed").
    return [_Block("preamble", a, min(b, end)) for a, b in sentences[first:first + 2]]


def _header_start(text: str, section) -> int:
    """Where a section's header starts: its body start less the header words and what joins them."""
    found = text.rfind(section.header, 0, section.start) if section.header else -1
    return found if found != -1 else section.start


def _statements(text: str, block: _Block) -> list[tuple[int, int]]:
    """Split a diagnosis block into statements: list items, lines, semicolons and sentences."""
    spans, start = [], block.start
    boundary = re.compile(r"\n|;|\.(?=\s+[A-Z0-9(])|\.\s*$|(?<!\S)\d{1,2}[.)](?=\s)")
    for match in boundary.finditer(text, block.start, block.end):
        if text[start:match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:block.end].strip():
        spans.append((start, block.end))
    return spans


# --- 2. what it says -------------------------------------------------------------------------------------


def _read_blocks(text: str, blocks: list[_Block], levels: list[LevelMention],
                 findings: list[Finding]) -> list[_Mention]:
    mentions: list[_Mention] = []
    for block in blocks:
        for statement in _statements(text, block):
            if block.kind in ("indications", "preamble"):
                # What follows a word of consent or risk is not the patient's ("risks include stenosis"); what
                # precedes it still is ("... C7 radiculopathy procedure ... consent signed", said without stops).
                not_clinical = _NOT_CLINICAL_RE.search(text, *statement)
                if not_clinical:
                    statement = (statement[0], not_clinical.start())
                    if not text[statement[0]:statement[1]].strip():
                        continue
            mentions.extend(_read_statement(text, statement, block.kind, levels, findings))
    return mentions


def _read_statement(text: str, statement: tuple[int, int], source: str, levels: list[LevelMention],
                    findings: list[Finding]) -> list[_Mention]:
    found = _find_conditions(text, statement, source)
    if not found:
        return []
    _attach_attributes(text, statement, found, levels)
    _apply_context(text, statement, found, findings)
    return _link_manifestations(text, found)


def _find_conditions(text: str, statement: tuple[int, int], source: str) -> list[_Mention]:
    """Condition phrases in the statement, longest first where they overlap."""
    hits = []
    for kind, pattern in _CONDITION_RE.items():
        for match in pattern.finditer(text, *statement):
            hits.append(_Mention(kind, match.start(), match.end(), statement, source))
    hits.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[_Mention] = []
    for hit in hits:
        if not kept or hit.start >= kept[-1].end:
            kept.append(hit)
    return kept


def _attach_attributes(text: str, statement: tuple[int, int], mentions: list[_Mention],
                       levels: list[LevelMention]) -> None:
    """Give each level, region word and side of the statement to the condition it qualifies."""
    attributes: list[tuple[int, int, str, object]] = []
    for level in levels:
        if statement[0] <= level.start and level.end <= statement[1] and not _names_past_surgery(text, level):
            attributes.append((level.start, level.end, "level", level))
    for match in _REGION_RE.finditer(text, *statement):
        attributes.append((match.start(), match.end(), "region", match.lastgroup))
    for match in _SIDE_RE.finditer(text, *statement):
        side = "both" if match.group("both") else "left" if match.group("left") else "right"
        attributes.append((match.start(), match.end(), "side", side))
    spans = [(start, end) for start, end, _, _ in attributes]
    for start, end, what, value in attributes:
        owner = _owner(text, start, end, mentions, spans, level=what == "level")
        if owner is None:
            continue
        if what == "level":
            owner.levels.append(value)  # type: ignore[arg-type]
        elif what == "region":
            owner.regions.add(value)  # type: ignore[arg-type]
            owner.region_spans.append((start, end))
        elif value == "both":
            owner.sides.update({"left", "right"})
        else:
            owner.sides.add(value)  # type: ignore[arg-type]


# A level that names an operation ("status post L5-S1 fusion", "prior L4-5 laminectomy") locates the surgery,
# not the condition beside it ("adjacent level stenosis above it").
_SURGERY_AFTER = re.compile(r"^[\s,-]*(?:\w+\s+){0,2}?(?:fusion|arthrodesis|laminectomy|laminotomy|discectomy|"
                            r"microdiscectomy|decompression|surgery|operation|ACDF|[TPAXO]LIF|arthroplasty|"
                            r"instrumentation|construct)\b", re.IGNORECASE)
_SURGERY_BEFORE = re.compile(r"\b(?:s/p|status\s+post|prior|previous|post)\s+(?:\w+\s+){0,2}$", re.IGNORECASE)


def _names_past_surgery(text: str, level: LevelMention) -> bool:
    after = text[level.end:level.end + 40]
    before = text[max(0, level.start - 30):level.start]
    return bool(_SURGERY_AFTER.match(after) and (_SURGERY_BEFORE.search(before)
                                                 or re.match(r"^[\s,-]*(?:\w+\s+){0,2}?fusion", after, re.I)))


_DIRECT_GAP = re.compile(r"^[\s,()/-]*(?:(?:at|of|in|the|level|levels|disc|disk|nerve|root|roots|spine|spinal|"
                         r"severe|mild|moderate|chronic|acute|progressive|intractable|recurrent|multilevel|"
                         r"arm|leg|upper|lower|extremity|grade\s+\w+)[\s,()/-]*)*$", re.IGNORECASE)
_JOINING = re.compile(r"\b(?:and|with|without|or|plus)\b|[,;]", re.IGNORECASE)


def _owner(text: str, start: int, end: int, mentions: list[_Mention],
           attribute_spans: list[tuple[int, int]], *, level: bool = False) -> _Mention | None:
    """The condition an attribute belongs to: the one containing it, else the one it directly precedes
    ("left S1 radiculopathy", "C4-C5, C5-C6 stenosis"), else the one before it ("stenosis at L4-L5").
    A level between a structural condition and a pain symptom is the structure's ("facet arthropathy L4-5
    and L5-S1 axial low back pain"): disc spaces locate lesions, pain is located by region."""
    for mention in mentions:
        if mention.start <= start and end <= mention.end:
            return mention
    before = [m for m in mentions if m.end <= start]
    after = [m for m in mentions if m.start >= end]
    previous, following = (before[-1] if before else None), (after[0] if after else None)
    if following is None or previous is None:
        return previous or following
    gap_after = _without_spans(text, end, following.start, attribute_spans)
    gap_before = _without_spans(text, previous.end, start, attribute_spans)
    if level and following.kind in SYMPTOMS and previous.kind in STRUCTURAL:
        return previous
    if _DIRECT_GAP.match(gap_after) and _JOINING.search(gap_before):
        return following
    return previous


def _without_spans(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> str:
    chars = list(text[start:end])
    for span_start, span_end in spans:
        for i in range(max(span_start, start), min(span_end, end)):
            chars[i - start] = " "
    return "".join(chars)


# Terms of uncertainty that Guidelines IV.H lists for outpatient coding, which ConText does not all know.
_UNCERTAIN_RE = re.compile(r"\b(?:probabl[ey]|possibl[ey]|suspected|suspect|suspicious\s+for|questionable|question\s+of"
                           r"|likely|r/o|rule\s+out|ruled\s+out|versus|vs\.|concern\s+for|cannot\s+(?:be\s+)?exclude[d]?"
                           r"|presumed)\b",
                           re.IGNORECASE)
# Terms IV.H also lists that state the physician's conclusion rather than a doubt. On a diagnosis line they leave
# the diagnosis uncertain. In the indication of a procedure note (no diagnosis line) they name the condition the
# procedure is performed for ("persistent pain since her laminectomy, consistent with post-laminectomy
# syndrome"; "the working diagnosis is cervical spondylotic myelopathy"): coded, with a finding to confirm it.
_CONCLUSION_RE = re.compile(r"\b(?:consistent\s+with|compatible\s+with|working\s+diagnosis)\b", re.IGNORECASE)
_CONCLUSION_SOURCES = frozenset({"indications", "preamble"})


# ", with ..." after a negated item opens a new, affirmed qualifier: "stenosis without neurogenic claudication,
# with right leg radicular pain" (ConText's "without" otherwise runs to the end of the sentence).
_NEGATION_TRIGGER = re.compile(r"\b(?:without|no|w/o|not|negative\s+for|denies)\b", re.IGNORECASE)
_WITH_CLAUSE = re.compile(r",\s*(?:and\s+)?with\b", re.IGNORECASE)


def _negation_closed(text: str, start: int, end: int) -> bool:
    triggers = list(_NEGATION_TRIGGER.finditer(text, start, end))
    return bool(triggers) and bool(_WITH_CLAUSE.search(text, triggers[-1].end(), end))


def _apply_context(text: str, statement: tuple[int, int], mentions: list[_Mention],
                   findings: list[Finding]) -> None:
    """ConText on the statement alone, so a "without" on one list item never reaches the next."""
    offset = statement[0]
    contexts = assess(text[statement[0]:statement[1]], [(m.start - offset, m.end - offset) for m in mentions])
    for mention, context in zip(mentions, contexts, strict=True):
        conclusion = _CONCLUSION_RE.search(text, statement[0], mention.start)
        doubted = _UNCERTAIN_RE.search(text, statement[0], mention.start)
        if doubted or (conclusion and mention.source not in _CONCLUSION_SOURCES):
            context = replace(context, uncertain=True)
        elif conclusion and context.affirmed and not context.historical and mention.kind not in MANIFESTATIONS:
            findings.append(Finding(
                "DX-CONCLUSION", "info",
                f'"{text[mention.start:mention.end]}" is stated as "{conclusion.group(0)}" in the indication: coded as '
                "the condition the procedure treats. Guidelines IV.H list the term among uncertain ones; confirm the "
                "diagnosis with the physician if in doubt.",
                evidence=(Evidence(mention.start, mention.end, text[mention.start:mention.end]),),
                source_title=GUIDELINES, source_passage="Section IV.H: uncertain diagnoses in outpatient care.",
            ))
        if context.negated and _negation_closed(text, statement[0], mention.start):
            context = replace(context, negated=False)
        mention.context = context
        if (context.uncertain or context.hypothetical) and not context.negated and mention.source != "indications":
            findings.append(Finding(
                "DX-UNCERTAIN", "info",
                f'"{text[mention.start:mention.end]}" is documented as uncertain or hypothetical and is not coded; '
                "code the documented signs or symptoms, or query the physician for a confirmed diagnosis.",
                evidence=(Evidence(mention.start, mention.end, text[mention.start:mention.end]),),
                source_title=GUIDELINES, source_passage="Section IV.H: uncertain diagnoses in outpatient care.",
            ))


def _link_manifestations(text: str, mentions: list[_Mention]) -> list[_Mention]:
    """Fold "with radiculopathy", "without neurogenic claudication", "radiculopathy from disc herniation" into
    the condition they qualify; keep the rest as conditions of their own. Drops what ConText rules out."""
    conditions: list[_Mention] = []
    for index, mention in enumerate(mentions):
        context = mention.context
        if context.family or context.uncertain or context.hypothetical:
            continue
        if mention.kind in MANIFESTATIONS:
            target = _link_target(text, mentions, index)
            if target is not None and target.context.affirmed and not target.context.negated:
                _fold(mention, target, present=not context.negated)
                continue
        if context.negated or (context.historical and mention.kind not in HISTORY_OK):
            continue
        if _INCIDENTAL.search(text[mention.statement[0]:mention.statement[1]]) and _incidental_clause(text, mention):
            continue  # "incidentally shows L5-S1 facet arthropathy, not addressed today": not what was treated
        conditions.append(mention)
    return conditions


_INCIDENTAL = re.compile(r"\bincidental(?:ly)?\b|\bnot\s+(?:addressed|treated|targeted)\b|\bnot\s+the\s+target\b",
                         re.IGNORECASE)


def _incidental_clause(text: str, mention: _Mention) -> bool:
    """Whether the mention's own clause (between semicolons, periods or a dash) calls it incidental."""
    start, end = mention.statement
    left = max(text.rfind(ch, start, mention.start) for ch in ".;\n") + 1
    left = max(left, start)
    right = min([p for p in (text.find(ch, mention.end, end) for ch in ".;\n") if p != -1] or [end])
    return bool(_INCIDENTAL.search(text, left, right))


_CAUSE_WORDS = re.compile(r"^\W*(?:\w+\s+){0,2}?(?:from|due\s+to|secondary\s+to|caused\s+by|because\s+of|related\s+to"
                          r"|from\s+a|attributable\s+to)\b", re.IGNORECASE)


def _link_target(text: str, mentions: list[_Mention], index: int) -> _Mention | None:
    manifestation = mentions[index]
    for previous in reversed(mentions[:index]):
        if manifestation.kind in ACCEPTS.get(previous.kind, ()):
            return previous
        if manifestation.context.negated and previous.kind in STRUCTURAL:
            return previous
    for following in mentions[index + 1:]:
        if manifestation.kind in ACCEPTS.get(following.kind, ()):
            gap = text[manifestation.end:following.start]
            return following if _CAUSE_WORDS.match(gap) else None
    return None


def _fold(manifestation: _Mention, target: _Mention, *, present: bool, origin: str = "statement") -> None:
    kind = manifestation.kind
    if kind in target.qualifiers and target.qualifiers[kind] != present:
        target.contradicted.add(kind)
    target.qualifiers[kind] = present
    target.qualifier_origin.setdefault(kind, origin)
    if present:
        target.qualifier_spans.append((manifestation.start, manifestation.end))
    if not target.levels and manifestation.levels:
        target.levels = list(manifestation.levels)
    if not target.sides:
        target.sides |= manifestation.sides
    if not target.regions and manifestation.regions:
        target.regions |= manifestation.regions


def _family(kind: str) -> str:
    if kind in DISC_KINDS:
        return "disc"
    if kind in SPONDYLOSIS_KINDS:
        return "spondylosis"
    return kind


def _enrich_from_indications(mentions: list[_Mention], indication_mentions: list[_Mention]) -> None:
    """The indication often names the level or the manifestation the diagnosis line leaves out
    ("herniated disk with radiculopathy at C4-C5"): code to that specificity (Guidelines I.B.2)."""
    for mention in mentions:
        if mention.source == "indications" or mention.kind not in STRUCTURAL:
            continue
        matches = [i for i in indication_mentions if _family(i.kind) == _family(mention.kind)
                   and _regions_compatible(_own_regions(mention), _own_regions(i))]
        if not mention.levels:
            adopted = [level for i in matches for level in i.levels]
            if adopted:
                mention.levels, mention.level_origin = adopted, "indications"
        for other in matches:
            if not _levels_overlap(mention.levels, other.levels):
                continue
            for kind, present in other.qualifiers.items():
                if present and kind not in mention.qualifiers and kind in ACCEPTS.get(mention.kind, ()):
                    mention.qualifiers[kind] = True
                    mention.qualifier_origin[kind] = "indications"
                    mention.qualifier_spans.extend(other.qualifier_spans)


# --- 3. regions and levels --------------------------------------------------------------------------------


@dataclass
class _Procedure:
    levels: list[LevelMention]
    regions: set[str]
    sides: set[str]    # sides of a lateral procedure; empty for midline work and anterior approaches


def _procedure_context(note: Note, text: str, levels: list[LevelMention]) -> _Procedure:
    """Levels, regions and sides of the procedure performed: its title list, else its narrative."""
    sections = note.bodies("procedure")
    titles = [_title_span(text, s.start, s.end) for s in sections[:1]]
    narrative = [(s.start, s.end) for s in note.bodies("procedure", "description")]
    chosen: list[LevelMention] = []
    for spans in (titles, narrative):
        chosen = [lv for lv in levels if any(a <= lv.start and lv.end <= b for a, b in spans)]
        if spans is narrative:
            chosen = [lv for lv in chosen if lv.interspaces]
        if chosen:
            break
    regions: set[str] = set()
    sides: set[str] = set()
    for start, end in titles:
        regions |= {m.lastgroup for m in _REGION_RE.finditer(text, start, end) if m.lastgroup}
        if _APPROACH_RE.search(text, start, end):
            continue  # the side of an approach says nothing about the side of the disease
        for match in _SIDE_RE.finditer(text, start, end):
            sides |= {"left", "right"} if match.group("both") else {"left" if match.group("left") else "right"}
    return _Procedure(chosen, regions, sides)


_APPROACH_RE = re.compile(r"approach|anterior|incision", re.IGNORECASE)


def _title_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The title of a procedure section: up to a blank line, or its first sentence when written inline."""
    body = text[start:end]
    lead = len(body) - len(body.lstrip())
    rest = body[lead:]
    if "\n" in rest.strip():
        blank = re.search(r"\n\s*\n", rest)
        return start, start + lead + (blank.start() if blank else len(rest))
    sentence = re.search(r"\.(?=\s+[A-Z])", rest)
    return start, start + lead + (sentence.end() if sentence else len(rest))


def _level_regions(level: LevelMention) -> list[str]:
    if level.interspaces:
        return [_interspace_region(i.name, i.region) for i in level.interspaces]
    return [_vertebra_region(v.name) for v in level.vertebrae]


def _interspace_region(name: str, region: str) -> str:
    return "occipito" if name == "C1-C2" else region


def _vertebra_region(name: str) -> str:
    return "occipito" if name in ("C1", "C2") else _VERTEBRA_REGION[name[0]]


def _own_regions(mention: _Mention) -> set[str]:
    regions = {r for level in mention.levels for r in _level_regions(level)}
    return regions or set(mention.regions)


def _regions_compatible(a: set[str], b: set[str]) -> bool:
    if not a or not b:
        return True
    return any(abs(REGIONS.index(x) - REGIONS.index(y)) <= 1 for x in a for y in b)


def _levels_overlap(a: list[LevelMention], b: list[LevelMention]) -> bool:
    """Same place: the same interspace, or a vertebra (a nerve root, a fracture) that bounds the other's interspace."""
    if not a or not b:
        return True
    spaces_a = {i.name for level in a for i in level.interspaces}
    spaces_b = {i.name for level in b for i in level.interspaces}
    if spaces_a and spaces_b:
        return bool(spaces_a & spaces_b)
    return bool({v.name for level in a for v in level.vertebrae} & {v.name for level in b for v in level.vertebrae})


_NEEDS_LEVEL = DISC_KINDS | {"fracture"}


def _resolve_region(mention: _Mention, procedure: _Procedure, statement_mates: list[_Mention]) -> None:
    """Region and levels: the statement's own level, else its region word (with the procedure's levels in that
    region when the code needs a level), else the procedure's levels, else the procedure's region words."""
    _resolve_region_of(mention, procedure, statement_mates)
    if mention.kind in ("scoliosis", "kyphosis") and mention.resolved_levels:
        mention.resolved_regions = [r for r in (_curve_region(mention.resolved_levels),) if r]


def _resolve_region_of(mention: _Mention, procedure: _Procedure, statement_mates: list[_Mention]) -> None:
    if mention.levels:
        mention.resolved_levels = list(mention.levels)
        mention.resolved_regions = _ordered({r for lv in mention.levels for r in _level_regions(lv)})
        mention.region_origin = mention.level_origin
        return
    if mention.regions:
        mention.resolved_regions = _ordered(mention.regions)
        if mention.kind in _NEEDS_LEVEL:
            in_region = [lv for lv in procedure.levels if set(_level_regions(lv)) & _near(mention.regions)]
            if in_region:
                mention.resolved_levels = in_region
                mention.resolved_regions = _ordered({r for lv in in_region for r in _level_regions(lv)})
                mention.level_origin = "procedure"
        return
    if procedure.levels and (mention.kind in STRUCTURAL or mention.kind in MANIFESTATIONS | set(SYMPTOMS)):
        mention.resolved_levels = list(procedure.levels)
        mention.resolved_regions = _ordered({r for lv in procedure.levels for r in _level_regions(lv)})
        mention.region_origin = mention.level_origin = "procedure"
        return
    mates = {r for m in statement_mates if m.statement == mention.statement and m is not mention for r in m.regions}
    fallback = mates or procedure.regions
    if fallback:
        mention.resolved_regions = _ordered(fallback)
        mention.region_origin = "statement" if mates else "procedure"


def _near(regions: set[str]) -> set[str]:
    """A region word also covers its junctions: "cervical" reaches C7-T1, "lumbar" reaches L5-S1 and T12-L1."""
    near = set(regions)
    for region in regions:
        index = REGIONS.index(region)
        near |= {REGIONS[i] for i in (index - 1, index + 1) if 0 <= i < len(REGIONS)}
    return near


def _curve_region(levels: list[LevelMention]) -> str:
    """A curve's region is the span it covers: thoracic and lumbar vertebrae together are thoracolumbar."""
    letters = {v.name[0] for lv in levels for v in lv.vertebrae}
    for pair, region in ((("T", "L"), "thoracolumbar"), (("C", "T"), "cervicothoracic"), (("L", "S"), "lumbosacral")):
        if set(pair) <= letters:
            return region
    return _VERTEBRA_REGION[min(letters, key="CTLS".index)] if letters else ""


def _ordered(regions: set[str]) -> list[str]:
    return sorted(regions, key=REGIONS.index)


def _merge_manifestations(mentions: list[_Mention]) -> list[_Mention]:
    """A manifestation stated on its own line joins the condition of its region that has a combination code
    (M54.1 Excludes1: radiculopathy with disc disorder M50.1/M51.1- or with spondylosis M47.2-)."""
    targets_by_kind = {
        "radiculopathy": (DISC_KINDS, frozenset({"spondylosis"})),
        "myelopathy": (DISC_KINDS | {"spondylosis"},),
        "cord_compression": (frozenset({"spondylosis"}),),
        "sciatica": (DISC_KINDS,),
        "neurogenic_claudication": (frozenset({"stenosis"}),),
        "leg_pain": (frozenset({"disc_degeneration"}),),
        "low_back_pain": (frozenset({"disc_degeneration"}),),
        "back_pain": (frozenset({"disc_degeneration"}),),
    }
    kept = []
    for mention in mentions:
        merged = False
        for kinds in targets_by_kind.get(mention.kind, ()):
            targets = [t for t in mentions if t.kind in kinds and t is not mention
                       and _regions_compatible(set(t.resolved_regions), set(mention.resolved_regions))
                       and _levels_overlap(t.resolved_levels, mention.levels)
                       and _takes_pain_type(t, mention.kind)]
            for target in targets:
                if not target.qualifiers.get(mention.kind):  # absent, or "without": _fold notes the contradiction
                    _fold(mention, target, present=True, origin="diagnosis list")
            if targets:
                merged = True
                break
        if not merged:
            kept.append(mention)
    _spread_myelopathy(kept)
    return kept


# Manifestations of a region rather than of one level: neurogenic claudication is the patient's walking
# intolerance from the lumbar stenosis, and M48.06- is coded by region, so a second mention of lumbar stenosis
# ("MRI shows stenosis at L3-4") that says nothing about it does not make a second, "without" code.
REGIONAL_QUALIFIERS = {"stenosis": ("neurogenic_claudication",)}


def _share_regional_qualifiers(mentions: list[_Mention]) -> None:
    for kind, qualifiers in REGIONAL_QUALIFIERS.items():
        same = [m for m in mentions if m.kind == kind]
        for qualifier in qualifiers:
            for source in (m for m in same if m.qualifiers.get(qualifier)):
                for other in same:
                    same_region = set(other.resolved_regions) == set(source.resolved_regions)
                    if qualifier not in other.qualifiers and same_region:
                        other.qualifiers[qualifier] = True
                        other.qualifier_origin[qualifier] = "diagnosis list"


def _takes_pain_type(target: _Mention, kind: str) -> bool:
    """Back and leg pain only change the code of lumbar/lumbosacral disc degeneration (M51.36-/M51.37-)."""
    if kind not in ("leg_pain", "low_back_pain", "back_pain"):
        return True
    return bool(set(target.resolved_regions) & {"lumbar", "lumbosacral"})


def _spread_myelopathy(mentions: list[_Mention]) -> None:
    """Myelopathy documented for a region without a level (e.g. cervical spondylotic myelopathy) is the
    manifestation of the herniated disc of that region too, unless the note puts it at another level."""
    sources = [m for m in mentions if m.kind in SPONDYLOSIS_KINDS
               and (m.qualifiers.get("myelopathy") or m.qualifiers.get("cord_compression"))]
    for disc in (m for m in mentions if m.kind == "disc_displacement" and "myelopathy" not in m.qualifiers):
        for source in sources:
            if (_regions_compatible(set(disc.resolved_regions), set(source.resolved_regions))
                    and set(disc.resolved_regions) & set(source.resolved_regions)
                    and _levels_overlap(disc.resolved_levels, source.levels)):
                disc.qualifiers["myelopathy"] = True
                disc.qualifier_origin["myelopathy"] = "diagnosis list"
                break


# Spondylosis as the surgeon describes it in the findings: osteophytes, uncovertebral overgrowth, spurs.
_SPONDYLOSIS_FINDING = re.compile(
    r"\bspondylo(?:sis|tic)\b|\bosteophyt\w*|\buncovertebral\s+(?:joint\s+)?(?:overgrowth|hypertrophy|spurs?"
    r"|spurring|arthropathy)|\bbone\s+spurs?\b", re.IGNORECASE)


def _radiculopathy_with_spondylosis(note: Note, text: str, mentions: list[_Mention],
                                    levels: list[LevelMention]) -> None:
    """Radiculopathy on the diagnosis line and spondylosis of the same region in the body of the report are
    coded together as spondylosis with radiculopathy (M47.2-): the index links them with "with", which
    presumes the causal link (Guidelines I.A.15), and the body of an operative report may add specificity to
    the postoperative diagnosis when it does not conflict with it (AHA Coding Clinic)."""
    lone = [m for m in mentions if m.kind == "radiculopathy" and m.resolved_regions]
    if not lone:
        return
    body = [(s.start, s.end) for s in note.bodies("findings", "description", "procedure", "indications")]
    for mention in lone:
        hit = _body_spondylosis(note, text, body, set(mention.resolved_regions), levels)
        if hit is not None:
            mention.kind = "spondylosis"
            mention.qualifiers["radiculopathy"] = True
            mention.qualifier_origin.setdefault("radiculopathy", "statement")
            mention.found_in_body = hit


def _body_spondylosis(note: Note, text: str, body: list[tuple[int, int]], regions: set[str],
                      levels: list[LevelMention]) -> tuple[int, int] | None:
    for start, end in body:
        for match in _SPONDYLOSIS_FINDING.finditer(text, start, end):
            sentence = note.sentence_at(match.start())
            context = assess(text[sentence[0]:sentence[1]], [(match.start() - sentence[0], match.end() - sentence[0])])
            if not context or not context[0].affirmed or context[0].negated:
                continue
            here = {r for lv in levels if sentence[0] <= lv.start < sentence[1] for r in _level_regions(lv)}
            here |= {m.lastgroup for m in _REGION_RE.finditer(text, *sentence) if m.lastgroup}
            if here and not (here & _near(regions)):
                continue
            return match.start(), match.end()
    return None


# --- 4. contradictions ------------------------------------------------------------------------------------


def _contradictions(mentions: list[_Mention], procedure: _Procedure, text: str) -> list[Finding]:
    findings = []
    for mention in mentions:
        for kind in sorted(mention.contradicted):
            mention.qualifiers.pop(kind, None)
            findings.append(_contradiction(mention, text, f'"with" and "without {kind.replace("_", " ")}"'))
    for i, a in enumerate(mentions):
        for b in mentions[i + 1:]:
            if _family(a.kind) != _family(b.kind) or a.statement == b.statement:
                continue
            if not (set(a.resolved_regions) & set(b.resolved_regions) or not a.resolved_regions):
                continue
            if not _levels_overlap(a.resolved_levels, b.resolved_levels):
                continue
            for kind in set(a.qualifiers) & set(b.qualifiers):
                if a.qualifiers[kind] != b.qualifiers[kind]:
                    a.qualifiers.pop(kind)
                    b.qualifiers.pop(kind)
                    a.contradicted.add(kind)
                    findings.append(_contradiction(a, text, f'with and without {kind.replace("_", " ")}', b))
            if {len(a.sides), len(b.sides)} == {1} and a.sides != b.sides:
                findings.append(_contradiction(a, text, "left in one statement, right in another", b))
    lone_side = procedure.sides if len(procedure.sides) == 1 else set()
    for mention in mentions:
        if lone_side and len(mention.sides) == 1 and mention.sides != lone_side:
            findings.append(_contradiction(
                mention, text, f"the diagnosis says {next(iter(mention.sides))}, the procedure "
                               f"{next(iter(lone_side))}"))
    return findings


def _contradiction(mention: _Mention, text: str, what: str, other: _Mention | None = None) -> Finding:
    evidence = [Evidence(mention.statement[0], mention.statement[1], text[slice(*mention.statement)].strip())]
    if other is not None:
        evidence.append(Evidence(other.statement[0], other.statement[1], text[slice(*other.statement)].strip()))
    return Finding(
        "DX-CONTRADICTION", "warning",
        f"The note contradicts itself about {_words(mention.kind)} ({what}). The code was built without the "
        "contradicted detail; query the physician before billing.",
        evidence=tuple(evidence), source_title=GUIDELINES,
        source_passage="Section III.B / IV: conflicting documentation is resolved by querying the provider.",
    )


# --- 5. codes ---------------------------------------------------------------------------------------------


def _candidates(mention: _Mention, text: str) -> list[_Candidate]:
    builder = _BUILDERS.get(mention.kind)
    if builder is not None:
        return builder(mention, text)
    if mention.kind in FIXED_CODES:
        region = _first(mention.resolved_regions) or FIXED_REGIONS.get(mention.kind)
        return [_Candidate(FIXED_CODES[mention.kind], mention, region,
                           _level_names(mention), _words(mention.kind), rank=_rank(mention))]
    return []


def _rank(mention: _Mention) -> int:
    if mention.kind in SYMPTOMS:
        return 1
    return 2 if mention.kind in MANIFESTATIONS else 3


def _first(items: list[str]) -> str | None:
    return items[0] if items else None


def _level_names(mention: _Mention, region: str | None = None) -> tuple[str, ...]:
    names: list[str] = []
    for level in mention.resolved_levels:
        units = level.interspaces or level.vertebrae
        for unit in units:
            unit_region = (_interspace_region(unit.name, unit.region) if level.interspaces
                           else _vertebra_region(unit.name))
            if (region is None or unit_region == region) and unit.name not in names:
                names.append(unit.name)
    return tuple(names)


def _disc_candidates(mention: _Mention, text: str) -> list[_Candidate]:
    """M50 (cervical, by level) and M51 (thoracic to lumbosacral) by what the disc disorder comes with."""
    axes = [axis for axis in ("myelopathy", "radiculopathy") if mention.qualifiers.get(axis)]
    if mention.kind == "disc_displacement" and mention.qualifiers.get("sciatica") and "radiculopathy" not in axes:
        axes.append("radiculopathy")  # M51.1 inclusion term: sciatica due to intervertebral disc disorder
    axes = axes or [mention.kind]
    if not mention.resolved_regions:
        return [_Candidate("", mention, None, (), _words(mention.kind), unspecified="region (cervical or lumbar)")]
    candidates = []
    for region in mention.resolved_regions:
        for axis in axes:
            candidates.extend(_disc_codes_for_region(mention, region, axis))
    return candidates


def _disc_codes_for_region(mention: _Mention, region: str, axis: str) -> list[_Candidate]:
    what = f"{region} {_words(mention.kind)}" + (f" with {axis}" if axis in ("myelopathy", "radiculopathy") else "")
    if region in ("occipito", "cervical", "cervicothoracic"):
        names = [n for n in _level_names(mention) if n in CERVICAL_DISC_LEVEL] or [None]
        return [_Candidate(f"M50.{DISC_AXIS[axis]}{CERVICAL_DISC_LEVEL.get(name or '', '0')}", mention,
                           _region_of_level(name, region), (name,) if name else (), what,
                           unspecified="" if name else "cervical disc level") for name in names]
    if region not in THORACOLUMBAR_DISC_DIGIT:
        return []
    code = f"M51.{DISC_AXIS[axis]}{THORACOLUMBAR_DISC_DIGIT[region]}"
    if axis == "annular_tear" and region in ("lumbar", "lumbosacral"):
        code = "M51.A0" if region == "lumbar" else "M51.A3"  # FY2025 annulus fibrosus defect, size unspecified
    if icd.is_valid(code) and not icd.is_billable(code):
        code = _pain_type_child(code, mention)
        what += " " + _pain_type_phrase(mention).replace("without mention of", "without documented back or leg pain")
    if icd.is_billable(code):
        return [_Candidate(code, mention, region, _level_names(mention, region), what)]
    if axis != mention.kind:
        # No combination code for this region (disc myelopathy stops at the lumbar region): code the disc itself.
        return _disc_codes_for_region(mention, region, mention.kind)
    return []


def _region_of_level(name: str | None, region: str) -> str:
    return "cervicothoracic" if name == "C7-T1" else region


def _pain_type_phrase(mention: _Mention) -> str:
    back = any(mention.qualifiers.get(k) for k in ("low_back_pain", "back_pain"))
    leg = any(mention.qualifiers.get(k) for k in ("leg_pain", "sciatica"))
    return PAIN_TYPE_PHRASES[(back, leg)]


def _pain_type_child(parent: str, mention: _Mention) -> str:
    """M51.36-/M51.37-: the child whose tabular title matches the documented pain (FY2025 expansion)."""
    phrase = _pain_type_phrase(mention)
    for child in icd.children(parent):
        if phrase in icd.describe(child).lower():
            return child
    return parent


def _site_code(category_key: str, region: str | None, child: str = "") -> str | None:
    """Category + region character (+ a 6th character where the region subdivides, as lumbar M48.06-)."""
    category, unspecified = SITE_CATEGORIES[category_key]
    code = category + (SITE_DIGIT[region] if region else unspecified)
    if child and icd.is_valid(code) and not icd.is_billable(code):
        code += child
    return code if icd.is_billable(code) else None


def _site_candidates(mention: _Mention, category_key: str, what: str, *, rank: int = 3,
                     child: str = "") -> list[_Candidate]:
    """One code per region; the category's "site unspecified" code when no region is documented."""
    if not mention.resolved_regions:
        code = _site_code(category_key, None)
        return [_Candidate(code or "", mention, None, (), what, unspecified="region", rank=rank)]
    out = []
    for region in mention.resolved_regions:
        code = _site_code(category_key, region, child)
        if code is None:
            code = _site_code(category_key, None) or ""
            out.append(_Candidate(code, mention, region, _level_names(mention, region), what, rank=rank,
                                  unspecified=f"no {what} code for the {region} region"))
            continue
        out.append(_Candidate(code, mention, region, _level_names(mention, region), f"{region} {what}", rank=rank))
    return out


def _spondylosis_candidates(mention: _Mention, text: str) -> list[_Candidate]:
    """M47.1- with myelopathy (inclusion term: spondylogenic compression of spinal cord), M47.2- with
    radiculopathy, else M47.81- (facet arthropathy included) or M47.89- (facet syndrome)."""
    if mention.kind == "facet_syndrome":
        return _site_candidates(mention, "facet_syndrome", "facet syndrome")
    out = []
    if mention.qualifiers.get("myelopathy") or mention.qualifiers.get("cord_compression"):
        out += _site_candidates(mention, "spondylosis_myelopathy", "spondylosis with myelopathy")
    if mention.qualifiers.get("radiculopathy"):
        out += _site_candidates(mention, "spondylosis_radiculopathy", "spondylosis with radiculopathy")
    return out or _site_candidates(mention, "spondylosis", f"{_words(mention.kind)} without myelopathy or "
                                                         "radiculopathy")


def _stenosis_candidates(mention: _Mention, text: str) -> list[_Candidate]:
    """M48.0-; lumbar splits by neurogenic claudication (M48.061 without, M48.062 with)."""
    with_nc = bool(mention.qualifiers.get("neurogenic_claudication"))
    out = _site_candidates(mention, "stenosis", "spinal stenosis", child="2" if with_nc else "1")
    for candidate in out:
        if candidate.code.startswith("M48.06"):
            candidate.what += " with neurogenic claudication" if with_nc else " without neurogenic claudication"
    return out


def _radiculopathy_candidates(mention: _Mention, text: str) -> list[_Candidate]:
    return _site_candidates(mention, "radiculopathy", "radiculopathy", rank=2)


def _simple_site(category_key: str, what: str):
    def build(mention: _Mention, text: str) -> list[_Candidate]:
        return _site_candidates(mention, category_key, what)
    return build


def _statement_text(mention: _Mention, text: str) -> str:
    return text[mention.statement[0]:mention.statement[1]]


def _own_phrase(mention: _Mention, text: str) -> str:
    """The words of the statement that belong to this condition: from the end of the condition named before it
    to the start of the one named after it ("neurogenic" in "scoliosis with stenosis and neurogenic
    claudication" is the claudication's, not the curve's)."""
    start, end = mention.statement
    for pattern in _CONDITION_RE.values():
        for match in pattern.finditer(text, *mention.statement):
            if match.end() <= mention.start:
                start = max(start, match.end())
            elif match.start() >= mention.end:
                end = min(end, match.start())
    return text[start:end]


def _curve_candidates(mention: _Mention, text: str) -> list[_Candidate]:
    words = _own_phrase(mention, text)
    types = SCOLIOSIS_TYPES if mention.kind == "scoliosis" else KYPHOSIS_TYPES
    chosen = next((key for key, pattern in types if re.search(pattern, words, re.IGNORECASE)), None)
    if chosen in FIXED_CODES:
        return [_Candidate(FIXED_CODES[chosen], mention, _first(mention.resolved_regions), (), _words(chosen))]
    ends = _span_ends(mention)
    if chosen is None and mention.kind == "scoliosis":
        # Scoliosis NOS has no region axis (M41.9).
        return [_Candidate("M41.9", mention, _first(mention.resolved_regions), ends, "scoliosis, type not documented",
                           unspecified="scoliosis type (idiopathic, neuromuscular, degenerative)")]
    key = chosen or "kyphosis"
    candidates = _site_candidates(mention, key, _words(key))
    for candidate in candidates:
        candidate.levels = ends  # a curve is named by its end vertebrae, not by one interspace
    return candidates


def _span_ends(mention: _Mention) -> tuple[str, ...]:
    vertebrae = sorted({v for lv in mention.resolved_levels for v in lv.vertebrae})
    return (vertebrae[0].name, vertebrae[-1].name) if len(vertebrae) > 1 else tuple(v.name for v in vertebrae)


def _back_pain_candidates(mention: _Mention, text: str) -> list[_Candidate]:
    """Low back pain M54.50 (vertebrogenic M54.51); with sciatica M54.4- by side; regionless back pain by the
    procedure's region, else dorsalgia unspecified M54.9."""
    if mention.qualifiers.get("sciatica"):
        return _sided(mention, "lumbago_with_sciatica", "low back pain with sciatica")
    phrase = text[mention.start:mention.end].lower()
    if mention.kind == "low_back_pain":
        code = "M54.51" if "vertebrogenic" in phrase else "M54.50"
        return [_Candidate(code, mention, "lumbar", (), "low back pain", rank=1)]
    region = _first(mention.resolved_regions)
    code = BACK_PAIN_BY_REGION.get(region or "", "M54.9")
    return [_Candidate(code, mention, region, (), f"{region or 'unspecified'} back pain", rank=1)]


def _sided(mention: _Mention, table_key: str, what: str) -> list[_Candidate]:
    table = SIDED_CODES[table_key]
    sides = sorted(mention.sides) or [None]
    region = "cervical" if table_key == "arm_pain" else "lumbar"
    return [_Candidate(table[side], mention, region, (), f"{side + ' ' if side else ''}{what}", rank=1,
                       unspecified="" if side else "side") for side in sides]


def _sided_builder(table_key: str, what: str):
    def build(mention: _Mention, text: str) -> list[_Candidate]:
        return _sided(mention, table_key, what)
    return build


def _fracture_candidates(mention: _Mention, text: str) -> list[_Candidate]:
    """Vertebral fractures by cause, with the 7th character for the encounter (a procedure that treats the
    fracture is active treatment: initial encounter, Guidelines I.C.19.a / I.C.13.c)."""
    words = _statement_text(mention, text)
    vertebrae = [v for lv in mention.resolved_levels for v in lv.vertebrae]
    if not (vertebrae or mention.resolved_regions or re.search(r"vertebra|compression|spine|spinal", words, re.I)):
        return []  # not a spine fracture: outside this engine
    causes = _NEGATED_CAUSE.sub(" ", words)
    cause = next((name for name, pattern in FRACTURE_CAUSES if re.search(pattern, causes, re.IGNORECASE)), None)
    known = _affirmed_anywhere(text, _OSTEOPOROSIS) if cause in (None, "collapse") else None
    if known is not None:
        # Guidelines I.C.13.d: a fracture in a patient with known osteoporosis is M80, unless the note gives
        # another cause (a trauma that would break a healthy bone, a neoplasm).
        cause = "osteoporotic"
        words += " " + known
    cause = cause or "traumatic"
    encounter = next((name for name, pattern in ENCOUNTERS if re.search(pattern, words, re.IGNORECASE)), "initial")
    open_fracture = bool(re.search(r"\bopen\s+fracture", words, re.IGNORECASE))
    if cause == "osteoporotic":
        base = "M80.88" if _OTHER_OSTEOPOROSIS.search(words) else "M80.08"
        return [_fracture(base, encounter, mention, "osteoporotic vertebral fracture", open_fracture)]
    if cause in ("neoplastic", "pathological"):
        base = "M84.58" if cause == "neoplastic" else "M84.48"
        return [_fracture(base, encounter, mention, f"{cause} vertebral fracture", open_fracture)]
    if cause == "collapse":
        return _collapsed_vertebrae(mention, encounter)
    return _traumatic_fractures(mention, vertebrae, words, encounter, open_fracture)


def _collapsed_vertebrae(mention: _Mention, encounter: str) -> list[_Candidate]:
    """M48.5- collapsed vertebra NEC by region: a compression fracture whose cause the note does not give."""
    missing = "cause of the compression fracture (osteoporotic, traumatic, pathological)"
    out = []
    for region in mention.resolved_regions or [None]:
        code = _with_seventh("M48.5" + (SITE_DIGIT[region] if region else "0"), encounter)
        out.append(_Candidate(code, mention, region, _level_names(mention, region),
                              f"{region or 'unspecified'} collapsed vertebra (compression fracture), {encounter}",
                              unspecified=missing))
    return out


def _affirmed_anywhere(text: str, pattern: re.Pattern[str]) -> str | None:
    """The words of the first place the note documents the finding as present (ConText on its sentence)."""
    for match in pattern.finditer(text):
        start, end = next(((a, b) for a, b in split_sentences(text) if a <= match.start() < b),
                          (match.start(), match.end()))
        context = assess(text[start:end], [(match.start() - start, match.end() - start)])
        if context and context[0].affirmed and not context[0].historical:
            return match.group(0)
    return None


def _with_seventh(base: str, encounter: str, open_fracture: bool = False) -> str:
    """The code with its 7th character, or "" when the tabular has none for this encounter (left to a coder)."""
    try:
        return icd.seventh_character(base, encounter, open_fracture=open_fracture)
    except (KeyError, ValueError):
        return ""


def _fracture(base: str, encounter: str, mention: _Mention, what: str, open_fracture: bool) -> _Candidate:
    code = _with_seventh(base, encounter, open_fracture)
    return _Candidate(code, mention, _first(mention.resolved_regions), _level_names(mention), f"{what}, {encounter}")


def _traumatic_fractures(mention: _Mention, vertebrae: list, words: str, encounter: str,
                         open_fracture: bool) -> list[_Candidate]:
    type_digit = next(d for d, pattern in FRACTURE_TYPE_DIGIT if re.search(pattern, words, re.IGNORECASE))
    out = []
    for vertebra in vertebrae or [None]:
        base = _traumatic_base(vertebra.name if vertebra else None, type_digit)
        if base is None:
            out.append(_Candidate("", mention, None, (), "traumatic vertebral fracture", unspecified="vertebra"))
            continue
        code = _with_seventh(base, encounter, open_fracture)
        if not code:
            out.append(_Candidate("", mention, None, (), "traumatic vertebral fracture", unspecified="fracture site"))
            continue
        out.append(_Candidate(code, mention, _vertebra_region(vertebra.name), (vertebra.name,),
                              f"traumatic fracture of {vertebra.name}, {encounter}",
                              unspecified="fracture type" if type_digit == "9" else ""))
    return out


def _traumatic_base(name: str | None, type_digit: str) -> str | None:
    if name is None:
        return None
    number = int(name[1:])
    if name[0] == "L":
        return f"S32.0{number}{type_digit}"
    if name[0] == "T":
        return f"S22.0{THORACIC_FRACTURE_DIGIT[number]}{type_digit}"
    if name[0] == "C":
        return f"S12.{number - 1}00" if number <= 7 else None  # unspecified displaced fracture (I.C.19.c)
    return "S32.10"  # sacrum, unspecified


# 6th character of the C90 neoplasms (Guidelines I.C.2.t: "in remission" is the provider's documentation).
_MYELOMA_STATUS = (("0", r"\bnot\s+(?:yet\s+)?(?:in|achieved|having\s+achieved)\s+(?:\w+\s+)?remission\b"
                         r"|\bfailed\s+to\s+achieve\s+remission\b"),
                   ("2", r"\bin\s+relapse\b|\brelapsed\b|\brelapsing\b"),
                   ("1", r"\bin\s+(?:complete\s+|partial\s+|full\s+)?remission\b"),
                   ("0", r""))


def _myeloma_candidates(mention: _Mention, text: str) -> list[_Candidate]:
    words = _statement_text(mention, text)
    category = "C90.3" if "plasmacytoma" in text[mention.start:mention.end].lower() else "C90.0"
    # The status is often in the history ("myeloma ... still on treatment, not in remission"), not on the line:
    # read it beside every mention of the neoplasm.
    nearby = " ".join(text[max(0, m.start() - 20):m.end() + 100]
                      for m in _CONDITION_RE["myeloma"].finditer(text))
    status = next(d for d, pattern in _MYELOMA_STATUS
                  if re.search(pattern, words, re.IGNORECASE) or (pattern and re.search(pattern, nearby, re.I)))
    return [_Candidate(category + status, mention, None, (), _words(mention.kind))]


# CRPS limb (5th character of G90.5-) and the words that name it.
_LIMBS = (("upper", r"upper\s+(?:extremit|limb)|\barms?\b|forearm|hand|wrist|elbow|shoulder|finger|\b[RLB]UE\b"),
          ("lower", r"lower\s+(?:extremit|limb)|\blegs?\b|foot|feet|ankle|knee|\bhip\b|thigh|toe|calf|\b[RLB]LE\b"))
# Limb shorthand also gives the side: RLE right lower extremity, BUE both upper extremities.
_LIMB_SIDE = {"R": "right", "L": "left", "B": "both"}
_CRPS_CODES = {("I", "upper"): "G90.51", ("I", "lower"): "G90.52", ("II", "upper"): "G56.4",
               ("II", "lower"): "G57.7"}
_SIDE_DIGIT = {"right": "1", "left": "2", "both": "3", None: "9"}


def _crps_candidates(mention: _Mention, text: str) -> list[_Candidate]:
    """G90.5- (type I) / G56.4-, G57.7- (type II, causalgia) by limb, then right 1, left 2, bilateral 3."""
    phrase = text[mention.start:mention.end]
    kind = "II" if re.search(r"\b(?:II|2|two)\b|causalgia", phrase, re.IGNORECASE) else "I"
    after = text[mention.start:mention.statement[1]]
    limb = min(((m.start(), name) for name, pattern in _LIMBS for m in re.finditer(pattern, after, re.I)),
               default=(0, None))[1]
    side = "both" if mention.sides >= {"left", "right"} else next(iter(mention.sides), None)
    shorthand = re.search(r"\b([RLB])[UL]E\b", after)
    if side is None and shorthand:
        side = _LIMB_SIDE[shorthand.group(1)]
    if limb is None:
        code = "G90.50" if kind == "I" else ""
        return [_Candidate(code, mention, None, (), _words("crps"), unspecified="limb and side")]
    base = _CRPS_CODES[(kind, limb)]
    digit = _SIDE_DIGIT[side]
    if base.startswith(("G56", "G57")) and digit == "9":
        digit = "0"
    what = f"CRPS type {kind}, {side + ' ' if side else ''}{limb} limb"
    return [_Candidate(base + digit, mention, None, (), what, unspecified="" if side else "side")]


# 5th character of T84.2-: breakdown (broken, fractured, failed) 1, displacement (loose, migrated) 2, other 9.
HARDWARE_FAILURE_TYPES = (("T84.226", "displacement", r"loose|displac|migrat|malposition|backed|pull|subsidence"),
                          ("T84.216", "breakdown", r"broken|fractur|breakage|fail"),
                          ("T84.296", "other mechanical complication", r""))


def _hardware_failure_candidates(mention: _Mention, text: str) -> list[_Candidate]:
    phrase = text[mention.start:mention.end]
    base, what, _ = next(t for t in HARDWARE_FAILURE_TYPES if re.search(t[2], phrase, re.IGNORECASE))
    encounter = _hardware_encounter(_statement_text(mention, text))
    return [_Candidate(_with_seventh(base, encounter), mention, _first(mention.resolved_regions),
                       _level_names(mention), f"{what} of a spinal internal fixation device, {encounter} encounter")]


def _hardware_encounter(words: str) -> str:
    """Revision or removal treats the complication: initial encounter (active treatment)."""
    return ("sequela" if re.search(r"sequela|late\s+effect", words, re.I) else
            "subsequent" if re.search(r"subsequent|follow[- ]?up", words, re.I) else "initial")


def _hardware_candidates(mention: _Mention, text: str) -> list[_Candidate]:
    encounter = _hardware_encounter(_statement_text(mention, text))
    code = _with_seventh("T84.84", encounter)
    return [_Candidate(code, mention, _first(mention.resolved_regions), _level_names(mention),
                       f"pain due to internal orthopedic hardware, {encounter} encounter")]


# Myalgia site (5th character of M79.1-) by the muscles or region named; a named site outside these is "other".
_MYALGIA_SITES = (("M79.11", r"mastica|masseter|temporalis|pterygoid"),
                  ("M79.12", r"neck|cervical|trapezius|sternocleidomastoid|\bSCM\b|levator|splenius|scalene"
                             r"|suboccipital|\bhead\b"),
                  ("M79.18", r"back|lumbar|thoracic|paraspinal|glute|buttock|quadratus|piriformis|shoulder|rhomboid"
                             r"|scapul|iliocostalis|multifidus|erector|psoas|hip|leg|arm|chest|abdom"))


def _myalgia_candidates(mention: _Mention, text: str) -> list[_Candidate]:
    words = text[mention.start:mention.statement[1]]
    code = next((code for code, pattern in _MYALGIA_SITES if re.search(pattern, words, re.IGNORECASE)), "")
    if not code and mention.resolved_regions:
        code = "M79.12" if mention.resolved_regions[0] in ("occipito", "cervical") else "M79.18"
    return [_Candidate(code or "M79.10", mention, _first(mention.resolved_regions), (), "myalgia",
                       unspecified="" if code else "site")]


_BONE_SITE = re.compile(r"vertebra|spine|spinal|\bbone|osseous|osteolytic|lytic|fracture|\bfx\b|sacrum|sacral"
                        r"|\b[CTLS]\d{1,2}\b", re.IGNORECASE)


def _metastasis_candidates(mention: _Mention, text: str) -> list[_Candidate]:
    """Metastatic disease of a vertebra (C79.51); metastases elsewhere are outside this engine."""
    if not (_BONE_SITE.search(_statement_text(mention, text)) or mention.resolved_levels):
        return []
    return [_Candidate("C79.51", mention, _first(mention.resolved_regions), _level_names(mention),
                       "secondary malignant neoplasm of bone (vertebral metastasis)")]


_BUILDERS = {
    "bone_metastasis": _metastasis_candidates,
    "myalgia": _myalgia_candidates,
    "myeloma": _myeloma_candidates,
    "crps": _crps_candidates,
    "painful_hardware": _hardware_candidates,
    "hardware_failure": _hardware_failure_candidates,
    **{kind: _disc_candidates for kind in DISC_KINDS},
    **{kind: _spondylosis_candidates for kind in SPONDYLOSIS_KINDS},
    "stenosis": _stenosis_candidates,
    "spondylolisthesis": _simple_site("spondylolisthesis", "spondylolisthesis"),
    "instability": _simple_site("instability", "spinal instability"),
    "spondylolysis": _simple_site("spondylolysis", "spondylolysis"),
    "radiculopathy": _radiculopathy_candidates,
    "scoliosis": _curve_candidates,
    "kyphosis": _curve_candidates,
    "low_back_pain": _back_pain_candidates,
    "back_pain": _back_pain_candidates,
    "sciatica": _sided_builder("sciatica", "sciatica"),
    "leg_pain": _sided_builder("leg_pain", "leg pain"),
    "arm_pain": _sided_builder("arm_pain", "arm pain"),
    "fracture": _fracture_candidates,
}


def _drop_integral_symptoms(candidates: list[_Candidate]) -> list[_Candidate]:
    """Symptoms routinely part of a definitive diagnosis of the same region are not coded (Guidelines I.B.5)."""
    definitive = [c for c in candidates if c.rank >= 2 and c.code]
    kept = []
    for candidate in candidates:
        kind = candidate.mention.kind
        if candidate.rank == 1 and kind in SYMPTOMS:
            region = candidate.region or SYMPTOMS[kind]
            causes = definitive
            if kind == "sciatica":
                causes = [c for c in definitive if c.code.startswith(_RADICULAR_CODES)]
            if any(c.region and _regions_compatible({region}, {c.region}) for c in causes):
                continue
        kept.append(candidate)
    # Spondylosis "without myelopathy or radiculopathy" is not coded beside the same region's M47.1-/M47.2-.
    combined = {c.region for c in kept if c.code.startswith(("M47.1", "M47.2"))}
    kept = [c for c in kept if not (c.code.startswith("M47.81") and c.region in combined)]
    # Facet syndrome (M47.89-) beside spondylosis of the same region is the pain of that spondylosis.
    spondylosis = {c.region for c in kept if c.code.startswith(("M47.1", "M47.2", "M47.81"))}
    kept = [c for c in kept if not (c.code.startswith("M47.89") and c.region in spondylosis)]
    # Stenosis named in the same statement as spondylotic myelopathy of its region ("spondylotic myelopathy with
    # osteophyte and stenosis behind C5") is the cord compression itself: M47.1 inclusion term "spondylogenic
    # compression of spinal cord".
    myelopathy = {(c.mention.statement, c.region) for c in kept if c.code.startswith("M47.1")}
    return [c for c in kept if not (c.code.startswith("M48.0") and c.mention.kind == "stenosis"
                                    and (c.mention.statement, c.region) in myelopathy)]


# Excludes1 notes that point at a whole category but name one condition of it: they keep the pair apart only
# when that condition is what the note documents. M40 "Excludes1: kyphoscoliosis (M41.-)" sends a kyphoscoliosis
# to M41, but a flatback or kyphosis documented beside a scoliosis is a second deformity (M40.- + M41.-).
EXCLUDES1_NAMED_CONDITION = (
    (("M40", "M41"), r"kypho-?scolio"),
)


def _excludes1_applies(a: _Candidate, b: _Candidate, text: str) -> bool:
    for (first, second), named in EXCLUDES1_NAMED_CONDITION:
        codes = (a.code, b.code)
        if (codes[0].startswith(first) and codes[1].startswith(second)) or (
                codes[1].startswith(first) and codes[0].startswith(second)):
            words = _statement_text(a.mention, text) + " " + _statement_text(b.mention, text)
            return bool(re.search(named, words, re.IGNORECASE))
    return True


def _drop_excluded(candidates: list[_Candidate], findings: list[Finding], text: str = "") -> list[_Candidate]:
    """Excludes1 pairs never go together: keep the more specific (combination) code."""
    coded = [c for c in candidates if c.code]
    dropped: set[int] = set()
    for i, a in enumerate(coded):
        for j, b in enumerate(coded):
            if i >= j or i in dropped or j in dropped or a.code == b.code:
                continue
            if icd.conflicts(a.code, b.code) and _excludes1_applies(a, b, text):
                loser, winner = (b, a) if a.rank >= b.rank else (a, b)
                dropped.add(j if loser is b else i)
                findings.append(Finding(
                    "DX-EXCLUDES1", "info",
                    f"{loser.code} is not coded with {winner.code}: an Excludes1 note of ICD-10-CM keeps them apart; "
                    f"{winner.code} carries the condition.", source_title="ICD-10-CM Tabular List, Excludes1",
                    source_passage=f"{loser.code} / {winner.code}",
                ))
    return [c for k, c in enumerate(coded) if k not in dropped] + [c for c in candidates if not c.code]


def _to_codes(candidates: list[_Candidate], text: str) -> list[tuple[int, DiagnosisCode]]:
    """One DiagnosisCode per code, evidence merged; never a code that is not billable."""
    by_code: dict[str, tuple[int, DiagnosisCode]] = {}
    for candidate in candidates:
        if not candidate.code or not icd.is_billable(candidate.code):
            continue
        mention = candidate.mention
        body = [mention.found_in_body] if mention.found_in_body else []
        spans = [(mention.start, mention.end), *mention.qualifier_spans, *mention.region_spans, *body,
                 *((lv.start, lv.end) for lv in mention.levels)]
        evidence = [Evidence(s, e, text[s:e]) for s, e in dict.fromkeys(spans)]
        if candidate.code in by_code:
            _, existing = by_code[candidate.code]
            existing.evidence.extend(e for e in evidence if e not in existing.evidence)
            existing.levels = tuple(dict.fromkeys(existing.levels + candidate.levels))
            continue
        order = (1 if candidate.rank == 1 else 0) * len(text) + mention.start
        by_code[candidate.code] = (order, DiagnosisCode(
            code=candidate.code,
            description=icd.describe(candidate.code),
            rationale=_rationale(candidate, text),
            confidence=_confidence(candidate),
            evidence=evidence,
            region=candidate.region,
            levels=candidate.levels,
        ))
    return list(by_code.values())


def _sequence(ordered: list[tuple[int, DiagnosisCode]]) -> list[DiagnosisCode]:
    """Diagnoses before symptoms, each in the order the physician listed them: the first listed postoperative
    diagnosis is the main reason for the procedure (Guidelines IV.G)."""
    return [code for _, code in sorted(ordered, key=lambda pair: pair[0])]


def _rationale(candidate: _Candidate, text: str) -> str:
    mention = candidate.mention
    statement = " ".join(text[slice(*mention.statement)].split())
    if len(statement) > 110:
        statement = statement[:107] + "..."
    notes = []
    if mention.level_origin != "statement" and candidate.levels:
        notes.append(f"level {', '.join(candidate.levels)} from the {mention.level_origin}")
    elif mention.region_origin == "procedure" and candidate.region:
        notes.append(f"region from the procedure ({candidate.region})")
    if mention.found_in_body:
        notes.append(f'spondylosis documented in the report: "{text[slice(*mention.found_in_body)]}"')
    for kind, origin in mention.qualifier_origin.items():
        if origin != "statement" and mention.qualifiers.get(kind):
            notes.append(f"{kind.replace('_', ' ')} from the {origin}")
    extra = f" ({'; '.join(notes)})" if notes else ""
    return f'{_SOURCE_TITLES.get(mention.source, "The note")} "{statement}": {candidate.what}{extra}.'


def _confidence(candidate: _Candidate) -> float:
    mention = candidate.mention
    score = 0.95
    if mention.source in ("indications", "preamble"):
        score -= 0.1
    if mention.level_origin != "statement" or mention.region_origin != "statement":
        score -= 0.1
    if any(origin != "statement" for origin in mention.qualifier_origin.values()):
        score -= 0.05
    if candidate.unspecified:
        score -= 0.2
    if mention.contradicted:
        score -= 0.3
    return round(max(score, 0.1), 2)


# --- 6. findings ------------------------------------------------------------------------------------------


def _codes_written(text: str, blocks: list[_Block]) -> list[tuple[int, int, str]]:
    """ICD-10-CM and ICD-9-CM codes typed into the note: (start, end, "icd10" | "icd9")."""
    inside = [(b.start, b.end) for b in blocks if b.kind != "indications"]

    def in_dx_block(position: int) -> bool:
        return any(a <= position < b for a, b in inside)

    def hinted(start: int, end: int) -> bool:
        before, after = text[max(0, start - 20):start], text[end:end + 1]
        return bool(_ICD_HINT.search(before)) or ("(" in before[-2:] and after == ")")

    found = [(m.start(), m.end(), "icd10") for m in _ICD10_IN_TEXT.finditer(text)]
    found += [(m.start(), m.end(), "icd10") for m in _ICD10_UNDOTTED.finditer(text)
              if in_dx_block(m.start()) and icd.is_valid(m.group())]
    found += [(m.start(), m.end(), "icd9") for m in _ICD9_IN_TEXT.finditer(text)
              if in_dx_block(m.start()) or hinted(m.start(), m.end())]
    return sorted(found)


def _code_in_text_findings(text: str, written: list[tuple[int, int, str]]) -> list[Finding]:
    """One finding per distinct code typed into the note, with every place it appears."""
    places: dict[str, list[tuple[int, int, str]]] = {}
    for start, end, system in written:
        places.setdefault(text[start:end], []).append((start, end, system))
    findings = []
    for code, spans in places.items():
        if spans[0][2] == "icd9":
            status = ("an ICD-9-CM code; ICD-9-CM is not valid on claims for dates of service from "
                      "2015-10-01 (retired)")
        else:
            dotted = icd.normalize(code)
            status = ("a billable ICD-10-CM code" if icd.is_billable(dotted) else
                      "a valid ICD-10-CM category but not billable" if icd.is_valid(dotted) else
                      "not in the ICD-10-CM release in use (invalid or retired)")
        findings.append(Finding(
            "DX-CODE-IN-TEXT", "info",
            f'The note contains the code "{code}" ({status}). It was not copied: diagnoses are coded from the '
            "documented words.", evidence=tuple(Evidence(start, end, code) for start, end, _ in spans),
            source_title="IamBilly coding guide", source_passage="Codes written in a note are never copied.",
        ))
    return findings


# Clinical shorthand rewritten, at the same length, into words ConText knows: "spondylosis w/o myelopathy" is
# negated like "without myelopathy" (its spelled-out form is a negation trigger).
SHORTHAND = (
    (re.compile(r"(?<![\w/])w/o(?![\w/])", re.IGNORECASE), "no "),
    (re.compile(r"(?<![\w/])w/out(?![\w/])", re.IGNORECASE), "no   "),
)


def _expand_shorthand(text: str) -> str:
    for pattern, words in SHORTHAND:
        text = pattern.sub(words, text)
    return text


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _unspecified_findings(candidates: list[_Candidate], text: str) -> list[Finding]:
    findings, seen = [], set()
    for candidate in candidates:
        if not candidate.unspecified or (candidate.code, candidate.unspecified) in seen:
            continue
        seen.add((candidate.code, candidate.unspecified))
        mention = candidate.mention
        coded = f"coded {candidate.code}" if candidate.code else "not coded"
        findings.append(Finding(
            "DX-UNSPECIFIED", "info",
            f"{_words(mention.kind).capitalize()}: the note does not document the {candidate.unspecified}; "
            f"{coded} at the specificity the text supports. Query the physician for a more specific code.",
            evidence=(Evidence(mention.start, mention.end, text[mention.start:mention.end]),),
            source_title=GUIDELINES, source_passage="Section I.B.2: code to the highest specificity documented.",
        ))
    return findings


def _missing_finding(chosen: list[_Block]) -> Finding:
    detail = ("The diagnosis statements name nothing this engine can code" if chosen
              else "The note has no postoperative, preoperative or indication diagnosis")
    return Finding(
        "DX-MISSING", "warning",
        f"{detail}. Query the physician for the diagnosis that supports the procedure; no ICD-10-CM code is "
        "assigned until it is documented.",
        source_title=GUIDELINES, source_passage="Section IV: code the condition documented as the reason for the "
                                                "encounter.",
    )


# Narrative sentences that run on after an inline "Diagnosis:" are not diagnosis statements.
_NARRATIVE_RE = re.compile(r"^(?:no|none|denies|the\s+patient)\b|\b(?:was|were|is|are|has|had|have|denies|gave|"
                           r"performed|placed|injected|tolerated|obtained)\b", re.IGNORECASE)


def _uncoded_findings(masked: str, text: str, chosen: list[_Block]) -> list[Finding]:
    """Diagnosis statements that name nothing in this engine's scope (e.g. hypertension) are left to a coder."""
    findings = []
    for block in chosen:
        if block.kind == "indications":
            continue
        for start, end in _statements(masked, block):
            words = masked[start:end].strip(" .,-\t\n")
            if len(words) < 3 or _SAME_RE.match(words) or _NARRATIVE_RE.search(words) or len(words.split()) > 12:
                continue
            if not any(_CONDITION_RE[k].search(masked, start, end) for k in _CONDITION_RE):
                findings.append(Finding(
                    "DX-UNCODED", "info",
                    f'"{" ".join(text[start:end].split())}" is not a spine or pain diagnosis this engine codes; '
                    "a coder should review it.", evidence=(Evidence(start, end, text[start:end]),),
                ))
    return findings


# How a condition is named in rationales and findings, where its key does not read well.
NAMES = {
    "postlaminectomy": "postlaminectomy (failed back surgery) syndrome", "si_joint_pain": "sacroiliac joint pain",
    "si_instability": "sacroiliac joint instability", "scoliosis_neuromuscular": "neuromuscular scoliosis",
    "scoliosis_adolescent": "adolescent idiopathic scoliosis", "scoliosis_juvenile": "juvenile idiopathic scoliosis",
    "scoliosis_infantile": "infantile idiopathic scoliosis", "scoliosis_idiopathic": "idiopathic scoliosis",
    "scoliosis_other": "degenerative (other) scoliosis", "scoliosis_thoracogenic": "thoracogenic scoliosis",
    "kyphosis_flatback": "flatback syndrome", "kyphosis_scheuermann": "Scheuermann kyphosis",
    "postlaminectomy_kyphosis": "postlaminectomy kyphosis", "myofascial_pain": "myofascial pain syndrome",
    "cervical_dystonia": "cervical dystonia (spasmodic torticollis)", "pseudarthrosis": "pseudarthrosis after fusion",
    "cord_compression": "spinal cord compression", "myelopathy": "myelopathy", "fracture": "vertebral fracture",
    "crps": "complex regional pain syndrome", "painful_hardware": "pain due to retained spinal hardware",
    "hardware_failure": "mechanical complication of spinal hardware",
    "myeloma": "multiple myeloma",
}


def _words(kind: str) -> str:
    return NAMES.get(kind, kind.replace("_", " "))
