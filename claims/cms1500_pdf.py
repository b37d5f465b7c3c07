"""The CMS-1500 (02/12) paper claim as a PDF: ClaimDocuments in, PDF bytes out.

Pure: it reads the plain data of `claims.claim_document` and knows no model and no database.
`cms1500_fields` says what is printed where (form item -> text, the golden file of the tests);
`render_cms1500` lays that text on the form with reportlab.

The print grid. The 1500 form is designed for a fixed-pitch printer: 10 characters per inch across and 6 lines
per inch down, so the 8.5 x 11 inch sheet is 66 lines of about 80 columns (the NUCC 1500 Reference Instruction
Manual and FAQ: Courier-like fixed font, 10 point recommended, upper case). Every position here is a print line
(1-66 from the top edge) and a column (1 = the first character position inside the form's left border, 0 = the
margin column the border is drawn in). The line and column of each item follow the layout used for printing
on pre-printed red-ink forms (item 1a at line 8 column 50, service line 1 at line 44, item 25 at line 56,
item 33a at line 61, ...). The NUCC printing standard itself (the form's PDF and negative) is sold through the
Government Printing Office and TFP Data Systems and is not public: `LEFT_OF_COLUMN_1` and `TOP_OF_LINE_1` are
where a printer is aligned to the stock it feeds, not something the items move for.

`form_image=True` also draws the form, with vector rules and labels of our own in red ink (no one's image or
artwork is embedded); `form_image=False` prints the data only, for pre-printed forms. The boxes (`REGIONS`) and
the print positions (`SLOTS`, `ROW_SLOTS`) are defined once here: the renderer draws and prints from them and
the tests read the PDF back against the same rectangles.

Pages: a paper form holds 6 service lines (LINES_PER_FORM). A longer claim continues on more forms, following
the payers' multi-page convention (e.g. HMSA's and Texas Medicaid's (TMHP) manuals): every page repeats the
header items (1-23) and the footer items (25-27, 31-33), carries its own service lines, "PAGE n OF m" at the top
right, "CONTINUED" in item 28 on all but the last page, and the claim's total (item 28) and amount paid
(item 29) on the last page only. Medicare contractors instead read each form as a claim of its own with its own
total (Noridian: "avoid using the word continued"); for them a claim must be split into claims of at most
6 lines before it is printed.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from reportlab.lib.colors import Color
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from claims.claim_document import (
    LINES_PER_FORM,
    Address,
    ClaimDocument,
    ProviderParty,
)

INCH = 72.0
COLUMN = INCH / 10  # 10 characters per inch
LINE = INCH / 6  # 6 lines per inch
PAGE_WIDTH = 8.5 * INCH
PAGE_HEIGHT = 11 * INCH
LINES_PER_PAGE = 66
LEFT_OF_COLUMN_1 = 0.35 * INCH  # so the border (column 0) sits a quarter inch in
TOP_OF_LINE_1 = 0.0

DATA_FONT = "Courier"  # NUCC: a fixed-pitch font; 10 point, each character spaced to its 1/10 inch column
DATA_SIZE = 10.0
_DATA_ADVANCE = stringWidth("M", DATA_FONT, DATA_SIZE)  # 6 pt; the column is 7.2 pt
_DATA_INSET = (COLUMN - _DATA_ADVANCE) / 2  # each character centred in its column
_BASELINE_RISE = 2.5  # points from the bottom of a print line to the data baseline: descenders stay inside it

LABEL_FONT = "Helvetica"
LABEL_BOLD = "Helvetica-Bold"
RED_INK = Color(0.84, 0.11, 0.16)  # the form's "OCR red": scanners drop it and read the black data
RED_SHADE = Color(1.0, 0.88, 0.88)  # the shaded supplemental halves of item 24 and 17a/32b/33b

FIRST_SERVICE_LINE = 44  # the unshaded half of service line 1; its shaded half is line 43, line 2 starts at 45


def column_left(col: float) -> float:
    """Points from the page's left edge to the left edge of print column `col`."""
    return LEFT_OF_COLUMN_1 + (col - 1) * COLUMN


def line_top(line: float) -> float:
    """Points from the page's top edge to the top of print line `line`."""
    return TOP_OF_LINE_1 + (line - 1) * LINE


@dataclass(frozen=True)
class Region:
    """A box of the form: print columns first_col..last_col and lines first_line..last_line (inclusive)."""

    first_col: int
    last_col: int
    first_line: int
    last_line: int
    label: str = ""  # printed at the box's top left when the form is drawn
    label_size: float = 5.5
    frame: bool = True  # drawn as a box (the carrier block and the supplemental strip are not)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(x0, top, x1, bottom) in points from the page's top-left corner, as pdfplumber measures."""
        return (column_left(self.first_col), line_top(self.first_line),
                column_left(self.last_col + 1), line_top(self.last_line + 1))


@dataclass(frozen=True)
class Slot:
    """Where one printed text goes: its print line, first column and width in characters, and its item's box."""

    line: int
    col: int
    width: int
    region: str
    right_aligned: bool = False  # money: the cents end in the last column
    whole: bool = False  # an identifier: refused when too long, never cut (a cut id is a wrong id)
    checkbox: bool = False  # a box the form prints, marked with an "X"

    @property
    def last_col(self) -> int:
        return self.col + self.width - 1

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return (column_left(self.col), line_top(self.line), column_left(self.last_col + 1), line_top(self.line + 1))


# The form's boxes, keyed by their CMS-1500 item number (cms1500_0212_fields.csv; items 10a, 10b and 10c are the
# csv's "10a-c"). "carrier" is the payer block above item 1; "24 shaded" the supplemental strip across 24A-24G.
REGIONS: dict[str, Region] = {
    "carrier": Region(40, 78, 1, 5, frame=False),
    "1": Region(0, 48, 7, 8),
    "1a": Region(49, 78, 7, 8, "1a. INSURED'S I.D. NUMBER                    (For Program in Item 1)"),
    "2": Region(0, 29, 9, 10, "2. PATIENT'S NAME (Last Name, First Name, Middle Initial)"),
    "3": Region(30, 48, 9, 10, "3. PATIENT'S BIRTH DATE"),
    "4": Region(49, 78, 9, 10, "4. INSURED'S NAME (Last Name, First Name, Middle Initial)"),
    "5": Region(0, 29, 11, 16, "5. PATIENT'S ADDRESS (No., Street)"),
    "6": Region(30, 48, 11, 12, "6. PATIENT RELATIONSHIP TO INSURED"),
    "7": Region(49, 78, 11, 16, "7. INSURED'S ADDRESS (No., Street)"),
    "8": Region(30, 48, 13, 16, "8. RESERVED FOR NUCC USE"),
    "9": Region(0, 29, 17, 18, "9. OTHER INSURED'S NAME (Last Name, First Name, Middle Initial)"),
    "9a": Region(0, 29, 19, 20, "a. OTHER INSURED'S POLICY OR GROUP NUMBER"),
    "9b": Region(0, 29, 21, 22, "b. RESERVED FOR NUCC USE"),
    "9c": Region(0, 29, 23, 24, "c. RESERVED FOR NUCC USE"),
    "9d": Region(0, 29, 25, 26, "d. INSURANCE PLAN NAME OR PROGRAM NAME"),
    "10": Region(30, 48, 17, 18, "10. IS PATIENT'S CONDITION RELATED TO:"),
    "10a": Region(30, 48, 19, 20, "a. EMPLOYMENT? (Current or Previous)"),
    "10b": Region(30, 48, 21, 22, "b. AUTO ACCIDENT?"),
    "10c": Region(30, 48, 23, 24, "c. OTHER ACCIDENT?"),
    "10d": Region(30, 48, 25, 26, "10d. CLAIM CODES (Designated by NUCC)"),
    "11": Region(49, 78, 17, 18, "11. INSURED'S POLICY GROUP OR FECA NUMBER"),
    "11a": Region(49, 78, 19, 20, "a. INSURED'S DATE OF BIRTH"),
    "11b": Region(49, 78, 21, 22, "b. OTHER CLAIM ID (Designated by NUCC)"),
    "11c": Region(49, 78, 23, 24, "c. INSURANCE PLAN NAME OR PROGRAM NAME"),
    "11d": Region(49, 78, 25, 26, "d. IS THERE ANOTHER HEALTH BENEFIT PLAN?"),
    "12": Region(0, 48, 27, 30),
    "13": Region(49, 78, 27, 30),
    "14": Region(0, 29, 31, 32, "14. DATE OF CURRENT ILLNESS, INJURY, or PREGNANCY (LMP)"),
    "15": Region(30, 48, 31, 32, "15. OTHER DATE"),
    "16": Region(49, 78, 31, 32, "16. DATES PATIENT UNABLE TO WORK IN CURRENT OCCUPATION"),
    "17": Region(0, 29, 33, 34, "17. NAME OF REFERRING PROVIDER OR OTHER SOURCE"),
    "17a": Region(30, 48, 33, 33, "17a."),
    "17b": Region(30, 48, 34, 34, "17b. NPI"),
    "18": Region(49, 78, 33, 34, "18. HOSPITALIZATION DATES RELATED TO CURRENT SERVICES"),
    "19": Region(0, 48, 35, 36, "19. ADDITIONAL CLAIM INFORMATION (Designated by NUCC)"),
    "20": Region(49, 78, 35, 36, "20. OUTSIDE LAB?"),
    "21": Region(0, 48, 37, 40,
                 "21. DIAGNOSIS OR NATURE OF ILLNESS OR INJURY  Relate A-L to service line below (24E)"),
    "22": Region(49, 78, 37, 38, "22. RESUBMISSION CODE"),
    "23": Region(49, 78, 39, 40, "23. PRIOR AUTHORIZATION NUMBER"),
    "24A": Region(0, 17, 41, 54, "24. A.      DATE(S) OF SERVICE", 4.6),
    "24B": Region(18, 20, 41, 54, "B.\nPLACE OF\nSERVICE", 4.6),
    "24C": Region(21, 23, 41, 54, "C.\n\nEMG", 4.6),
    "24D": Region(24, 43, 41, 54, "D. PROCEDURES, SERVICES, OR SUPPLIES\n(Explain Unusual Circumstances)", 4.6),
    "24E": Region(44, 48, 41, 54, "E.\nDIAGNOSIS\nPOINTER", 4.6),
    "24F": Region(49, 57, 41, 54, "F.\n\n$ CHARGES", 4.6),
    "24G": Region(58, 61, 41, 54, "G.\nDAYS\nOR\nUNITS", 4.6),
    "24H": Region(62, 64, 41, 54, "H.\nEPSDT\nFamily\nPlan", 4.6),
    "24I": Region(65, 66, 41, 54, "I.\nID.\nQUAL.", 4.6),
    "24J": Region(67, 78, 41, 54, "J.\nRENDERING\nPROVIDER ID. #", 4.6),
    "24 shaded": Region(0, 61, 43, 53, frame=False),
    "25": Region(0, 21, 55, 56, "25. FEDERAL TAX I.D. NUMBER"),
    "26": Region(22, 36, 55, 56, "26. PATIENT'S ACCOUNT NO."),
    "27": Region(37, 48, 55, 56, "27. ACCEPT ASSIGNMENT?"),
    "28": Region(49, 60, 55, 56, "28. TOTAL CHARGE"),
    "29": Region(61, 70, 55, 56, "29. AMOUNT PAID"),
    "30": Region(71, 78, 55, 56, "30. Rsvd for NUCC Use", 4.8),
    "31": Region(0, 21, 57, 61, "31. SIGNATURE OF PHYSICIAN OR SUPPLIER\nINCLUDING DEGREES OR CREDENTIALS\n"
                                "(I certify that the statements on the reverse\n"
                                "apply to this bill and are made a part thereof.)", 4.6),
    "32": Region(22, 48, 57, 60, "32. SERVICE FACILITY LOCATION INFORMATION"),
    "32a": Region(22, 34, 61, 61, "a."),
    "32b": Region(35, 48, 61, 61, "b."),
    "33": Region(49, 78, 57, 60, "33. BILLING PROVIDER INFO & PH #"),
    "33a": Region(49, 61, 61, 61, "a."),
    "33b": Region(62, 78, 61, 61, "b."),
}

# The boxes a choice is marked in with an "X": item -> choice -> column (all on the item's data line).
INSURANCE_TYPE_COLUMNS = {"medicare": 1, "medicaid": 8, "tricare": 15, "champva": 24, "group": 31, "feca": 39,
                          "other": 45}
RELATIONSHIP_COLUMNS = {"self": 33, "spouse": 38, "child": 42, "other": 47}


def _boxes(item: str, line: int, columns: dict[str, int]) -> dict[str, Slot]:
    return {f"{item}.{choice}": Slot(line, col, 1, item, checkbox=True) for choice, col in columns.items()}


# Where each header and footer text is printed (the same on every page of a claim).
SLOTS: dict[str, Slot] = {
    "page": Slot(1, 67, 11, "carrier"),
    **{f"carrier.{n}": Slot(1 + n, 41, 30, "carrier") for n in range(1, 5)},  # the payer's name and address
    **_boxes("1", 8, INSURANCE_TYPE_COLUMNS),
    "1a": Slot(8, 50, 29, "1a", whole=True),
    "2": Slot(10, 1, 28, "2"),
    "3": Slot(10, 31, 10, "3"),  # MM DD YYYY: the parts land in columns 31, 34 and 37
    **_boxes("3", 10, {"male": 42, "female": 47}),
    "4": Slot(10, 50, 29, "4"),
    "5.street": Slot(12, 1, 28, "5"),
    **_boxes("6", 12, RELATIONSHIP_COLUMNS),
    "7.street": Slot(12, 50, 29, "7"),
    "5.city": Slot(14, 1, 23, "5"),
    "5.state": Slot(14, 26, 2, "5"),
    "7.city": Slot(14, 50, 22, "7"),
    "7.state": Slot(14, 74, 2, "7"),
    "5.zip": Slot(16, 1, 10, "5"),
    "5.phone_area": Slot(16, 15, 3, "5"),
    "5.phone": Slot(16, 19, 7, "5"),
    "7.zip": Slot(16, 50, 10, "7"),
    "7.phone_area": Slot(16, 65, 3, "7"),
    "7.phone": Slot(16, 69, 7, "7"),
    "11": Slot(18, 50, 29, "11"),
    **_boxes("10a", 20, {"yes": 35, "no": 41}),
    "11a": Slot(20, 53, 10, "11a"),
    **_boxes("11a", 20, {"male": 68, "female": 75}),
    **_boxes("10b", 22, {"yes": 35, "no": 41}),
    "10b.state": Slot(22, 45, 2, "10b"),
    **_boxes("10c", 24, {"yes": 35, "no": 41}),
    "11c": Slot(24, 50, 29, "11c"),
    **_boxes("11d", 26, {"yes": 52, "no": 57}),
    "12": Slot(30, 7, 23, "12"),
    "13": Slot(30, 56, 23, "13"),
    "14": Slot(32, 2, 8, "14"),  # MM DD YY
    "14.qual": Slot(32, 14, 3, "14"),
    "17.qual": Slot(34, 1, 2, "17"),
    "17": Slot(34, 4, 26, "17"),
    "17b": Slot(34, 35, 10, "17b", whole=True),
    "19": Slot(36, 1, 47, "19"),
    "21.ind": Slot(37, 45, 1, "21"),
    **{f"21.{letter}": Slot(38 + i // 4, 2 + 12 * (i % 4), 7, "21") for i, letter in enumerate("ABCDEFGHIJKL")},
    "22.code": Slot(38, 50, 1, "22"),
    "22.original_ref": Slot(38, 62, 17, "22", whole=True),
    "23": Slot(40, 50, 29, "23", whole=True),
    "25": Slot(56, 1, 15, "25", whole=True),
    **_boxes("25", 56, {"ssn": 17, "ein": 19}),
    "26": Slot(56, 23, 14, "26", whole=True),
    **_boxes("27", 56, {"yes": 38, "no": 43}),
    "28": Slot(56, 50, 10, "28", right_aligned=True),  # dollars, a space (the form's rule), cents in 58-59
    "29": Slot(56, 62, 8, "29", right_aligned=True),
    "33.phone_area": Slot(57, 66, 3, "33"),
    "33.phone": Slot(57, 70, 7, "33"),
    "32.name": Slot(58, 23, 26, "32"),
    "33.name": Slot(58, 50, 29, "33"),
    "32.street": Slot(59, 23, 26, "32"),
    "33.street": Slot(59, 50, 29, "33"),
    "31": Slot(60, 1, 20, "31"),
    "32.city": Slot(60, 23, 26, "32"),
    "33.city": Slot(60, 50, 29, "33"),
    "31.date": Slot(61, 13, 8, "31"),
    "32a": Slot(61, 24, 10, "32a", whole=True),
    "33a": Slot(61, 51, 10, "33a", whole=True),
    "33b": Slot(61, 64, 14, "33b", whole=True),
}

# Where each service line's texts go, as (column, width, on the shaded half, box, right-aligned, whole); the
# print line follows from the line's row on its page (1-6). Keys in `cms1500_fields` are "24D.<n>" for the
# claim's n-th service line (1-based, across pages) and "24A.<n>.shaded" for its supplemental information.
ROW_SLOTS: dict[str, tuple[int, int, bool, str, bool, bool]] = {
    "24A.shaded": (1, 30, True, "24 shaded", False, False),  # N4 + NDC in 1-13, unit + quantity from 17
    "24A": (1, 17, False, "24A", False, False),  # MM DD YY MM DD YY: from in 1-8, to in 10-17
    "24B": (19, 2, False, "24B", False, False),
    "24C": (22, 1, False, "24C", False, False),
    "24D": (25, 5, False, "24D", False, True),
    "24D.modifiers": (32, 11, False, "24D", False, False),  # up to 4, in 32, 35, 38 and 41
    "24E": (45, 4, False, "24E", False, False),
    "24F": (50, 8, False, "24F", True, False),  # dollars end in 54, cents in 56-57
    "24G": (59, 3, False, "24G", False, False),
    "24J": (68, 10, False, "24J", False, True),
}


def slot(key: str) -> Slot:
    """The print position of a `cms1500_fields` key ("2", "24D.7" = line 7 = row 1 of page 2, ...)."""
    if key in SLOTS:
        return SLOTS[key]
    item, number, *rest = key.split(".")
    col, width, shaded, region, right_aligned, whole = ROW_SLOTS[".".join([item, *rest])]
    row = (int(number) - 1) % LINES_PER_FORM
    line = FIRST_SERVICE_LINE + 2 * row - (1 if shaded else 0)
    return Slot(line, col, width, region, right_aligned, whole)


def page_of(key: str) -> int | None:
    """The 0-based page of a service line's key; None for a header or footer key (printed on every page)."""
    if key in SLOTS:
        return None
    return (int(key.split(".")[1]) - 1) // LINES_PER_FORM


# Item 1 from the claim filing indicator (837P SBR09). Group health plans: the commercial, Blue Cross, HMO,
# PPO/POS/EPO/indemnity and federal employees' (FEHB) plans; workers' compensation, auto, liability and the rest
# are "other" (FECA, the federal employees' compensation program, has no code of its own in SBR09).
INSURANCE_TYPES = {"MA": "medicare", "MB": "medicare", "MC": "medicaid", "CH": "tricare", "VA": "champva",
                   "BL": "group", "CI": "group", "HM": "group", "FI": "group", "12": "group", "13": "group",
                   "14": "group", "15": "group", "16": "group"}
RELATIONSHIPS = {"18": "self", "01": "spouse", "19": "child"}  # item 6; every other PAT01 code is "other"
SIGNATURE_ON_FILE = "SIGNATURE ON FILE"  # NUCC items 12, 13 and 31: "Signature on File" or SOF
ONSET_QUALIFIER = "431"  # item 14: onset of current symptoms or illness
REFERRING_QUALIFIER = "DN"  # item 17: referring provider
ICD10_INDICATOR = "0"  # item 21: ICD-10-CM
TAXONOMY_QUALIFIER = "ZZ"  # item 33b: NUCC keeps ZZ on paper where the 837P says PXC


def cms1500_fields(claim: ClaimDocument) -> dict[str, str]:
    """What the claim's forms print, key -> text, in upper case and cut to its box (see `slot`).

    Header and footer keys are printed on every page; service line keys carry the claim's line number (1-based)
    and land on page (n - 1) // 6. "28" (total charge) and "29" (amount paid) go on the last page only.
    Checkbox keys ("1.medicare", "3.female", "27.yes", ...) print "X". Empty items are left out.
    """
    fields: dict[str, str] = {}

    def put(key: str, value: str | None, *, keep_spacing: bool = False) -> None:
        text = _printable(value or "", keep_spacing=keep_spacing)
        if not text:
            return
        where = slot(key)
        if len(text) > where.width:
            if where.whole or where.right_aligned:
                raise ValueError(f"Claim {claim.patient_control_number}: item {key.split('.')[0]} ({text}) is longer "
                                 f"than the {where.width} characters the CMS-1500 box holds; it cannot be printed.")
            text = text[: where.width].rstrip()
        fields[key] = text

    payer = claim.payer
    carrier = [payer.name]
    if payer.address is not None:
        carrier += [_street(payer.address.line1), _street(payer.address.line2), _city_line(payer.address)]
    for n, text in enumerate((text for text in carrier if text.strip()), start=1):
        put(f"carrier.{n}", text)

    subscriber = claim.subscriber
    patient = claim.patient
    self_insured = subscriber.relationship == "18"
    put("1." + INSURANCE_TYPES.get(subscriber.filing_indicator, "other"), "X")
    put("1a", subscriber.member_id)
    put("2", _person_name(patient.family_name, patient.given_name, patient.middle_name))
    if patient.birth_date is not None:
        put("3", f"{patient.birth_date:%m %d %Y}")  # birth dates have 8 digits (CMS IOM 100-04 ch. 26)
    if patient.sex in ("M", "F"):
        put(f"3.{'male' if patient.sex == 'M' else 'female'}", "X")

    # Items 4, 7 and 11a are the insured's: the patient's own when the patient is the insured (SBR02 = 18).
    if self_insured:
        insured_name = _person_name(patient.family_name, patient.given_name, patient.middle_name)
        insured_address, insured_phone = patient.address, patient.phone
        insured_birth, insured_sex = patient.birth_date, patient.sex
    else:
        insured_name = _person_name(subscriber.family_name, subscriber.given_name, subscriber.middle_name)
        insured_address, insured_phone = subscriber.address, ""
        insured_birth, insured_sex = subscriber.birth_date, subscriber.sex
    put("4", insured_name)
    _put_address(put, "5", patient.address, patient.phone)
    put("6." + RELATIONSHIPS.get(subscriber.relationship, "other"), "X")
    _put_address(put, "7", insured_address, insured_phone)

    # Items 9, 9a and 9d name another plan, which a ClaimDocument does not carry (no 837P loop 2320): blank.
    put("10a." + ("yes" if claim.related_to_employment else "no"), "X")
    put("10b." + ("yes" if claim.related_to_auto_accident else "no"), "X")
    if claim.related_to_auto_accident:
        put("10b.state", claim.auto_accident_state)
    put("10c." + ("yes" if claim.related_to_other_accident else "no"), "X")

    group = subscriber.group_number
    if not group and subscriber.filing_indicator == "MB" and subscriber.payer_responsibility == "P":
        group = "NONE"  # Medicare: "NONE" when no insurance is primary to Medicare (CMS IOM 100-04 ch. 26, item 11)
    put("11", group)
    if insured_birth is not None:
        put("11a", f"{insured_birth:%m %d %Y}")
    if insured_sex in ("M", "F"):
        put(f"11a.{'male' if insured_sex == 'M' else 'female'}", "X")
    put("11c", subscriber.plan_name or payer.name)
    # A claim sent to a secondary or tertiary payer has another plan ahead of it.
    put("11d." + ("no" if subscriber.payer_responsibility == "P" else "yes"), "X")

    if claim.release_of_information == "Y":
        put("12", SIGNATURE_ON_FILE)
    if claim.benefits_assigned:
        put("13", SIGNATURE_ON_FILE)
    if claim.onset_date is not None:
        put("14", f"{claim.onset_date:%m %d %y}")
        put("14.qual", ONSET_QUALIFIER)
    referring = claim.referring_provider
    if referring is not None:
        put("17.qual", REFERRING_QUALIFIER)
        put("17", _provider_name_first_last(referring))
        put("17b", referring.npi)
    put("19", claim.additional_information)

    # Item 21: NUCC "do not include the decimal point" (the ClaimDocument holds codes with their dot).
    put("21.ind", ICD10_INDICATOR)
    for dx in claim.diagnoses:
        if f"21.{dx.pointer}" in SLOTS:  # A-L: the form has 12 places (claim_problems refuses more)
            put(f"21.{dx.pointer}", dx.code.replace(".", ""))
    if claim.frequency_code in ("7", "8"):
        put("22.code", claim.frequency_code)
        put("22.original_ref", claim.payer_claim_number)
    put("23", claim.prior_authorization)

    rendering_npi = claim.rendering_provider.npi if claim.rendering_provider is not None else ""
    for n, line in enumerate(claim.lines, start=1):
        if line.drug is not None:
            quantity = format(line.drug.quantity.normalize(), "f")
            put(f"24A.{n}.shaded", f"N4{line.drug.ndc}   {line.drug.unit}{quantity}", keep_spacing=True)
        day = f"{line.date_of_service:%m %d %y}"
        put(f"24A.{n}", f"{day} {day}")  # one date of service: NUCC lets "To" repeat "From"
        put(f"24B.{n}", line.place_of_service or claim.place_of_service)
        put(f"24C.{n}", "Y" if line.emergency else "")
        put(f"24D.{n}", line.cpt)
        put(f"24D.{n}.modifiers", " ".join(line.modifiers[:4]))
        put(f"24E.{n}", "".join(line.dx_pointers[:4]))  # letters, left-justified, no commas (NUCC)
        put(f"24F.{n}", _money(line.charge))
        put(f"24G.{n}", str(line.units))
        put(f"24J.{n}", rendering_npi)

    billing = claim.billing_provider
    put("25", re.sub(r"\D", "", billing.tax_id))  # NUCC: no hyphen
    if billing.tax_id_type in ("SY", "EI"):
        put("25." + ("ssn" if billing.tax_id_type == "SY" else "ein"), "X")
    put("26", claim.patient_control_number)
    put("27." + ("yes" if claim.accept_assignment else "no"), "X")
    put("28", _money(claim.total_charge))
    if claim.amount_paid:
        put("29", _money(claim.amount_paid))

    if claim.provider_signature_on_file:
        put("31", SIGNATURE_ON_FILE)
    if claim.physician_signature_date is not None:
        put("31.date", f"{claim.physician_signature_date:%m %d %y}")
    facility = claim.facility
    if facility is not None:
        put("32.name", facility.name)
        put("32.street", _street(" ".join(filter(None, (facility.address.line1, facility.address.line2)))))
        put("32.city", _city_line(facility.address))
        put("32a", facility.npi)
    put("33.phone_area", billing.phone[:3])
    put("33.phone", billing.phone[3:10])
    put("33.name", billing.name)
    if billing.address is not None:
        put("33.street", _street(" ".join(filter(None, (billing.address.line1, billing.address.line2)))))
        put("33.city", _city_line(billing.address))
    put("33a", billing.npi)
    if billing.taxonomy:
        put("33b", TAXONOMY_QUALIFIER + billing.taxonomy)  # no space between qualifier and number (NUCC)
    return fields


def cms1500_page_fields(claim: ClaimDocument) -> list[dict[str, str]]:
    """The claim's fields split into its forms: one dict per page, 6 service lines each (see the module doc)."""
    fields = cms1500_fields(claim)
    pages = max(1, -(-len(claim.lines) // LINES_PER_FORM))
    out = []
    for page in range(pages):
        last = page == pages - 1
        on_page = {}
        for key, text in fields.items():
            if key in ("28", "29") and not last:
                continue
            if page_of(key) in (None, page):
                on_page[key] = text
        if not last:
            on_page["28"] = "CONTINUED"
        if pages > 1:
            on_page["page"] = f"PAGE {page + 1} OF {pages}"
        out.append(on_page)
    return out


def render_cms1500(claims: list[ClaimDocument], *, form_image: bool = True) -> bytes:
    """The claims as one PDF, each on its own forms (6 service lines a page), one after another.

    `form_image=False` prints the data only, at the same positions, for pre-printed red-ink forms.
    The PDF's metadata names the claim numbers only, never a patient (no PHI in metadata).
    """
    if not claims:
        raise ValueError("No claims to print.")
    numbers = [claim.patient_control_number for claim in claims]
    buffer = io.BytesIO()
    pdf = Canvas(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), pageCompression=1)
    pdf.setTitle(("CMS-1500 claim " if len(numbers) == 1 else "CMS-1500 claims ") + ", ".join(numbers))
    pdf.setAuthor("IamBilly")
    pdf.setSubject("CMS-1500 (02/12) professional claim")
    pdf.setCreator("IamBilly")
    for claim in claims:
        for page_fields in cms1500_page_fields(claim):
            if form_image:
                _draw_form(pdf)
            for key, text in page_fields.items():
                _print_text(pdf, slot(key), text)
            pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# --- data text ------------------------------------------------------------------------------------------------


def _printable(value: str, *, keep_spacing: bool = False) -> str:
    """Upper case ASCII with single spaces: what a fixed-pitch printer (and an OCR reader) handles."""
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().upper()
    if keep_spacing:  # the spaces position what follows them (item 24's supplemental information)
        return re.sub(r"[^\x20-\x7e]", " ", ascii_text).strip()
    return " ".join(ascii_text.split())


def _person_name(family: str, given: str, middle: str) -> str:
    """NUCC items 2, 4 and 9: Last Name, First Name, Middle Initial, separated by commas, no periods."""
    parts = [family.replace(".", ""), given.replace(".", "")]
    if middle:
        parts.append(middle[:1])
    return ", ".join(part for part in parts if part.strip())


def _provider_name_first_last(provider: ProviderParty) -> str:
    """NUCC item 17: First Name, Middle Initial, Last Name and the credentials, without periods or commas."""
    if provider.entity == "2":
        return provider.organisation_name
    parts = (provider.given_name, provider.middle_name[:1], provider.family_name, provider.credential)
    return " ".join(part for part in parts if part).replace(".", "").replace(",", "")


def _street(value: str) -> str:
    """NUCC: no commas, periods or other punctuation in an address (123 N Main Street 101); hyphens stay."""
    return re.sub(r"[^\w\s/-]", " ", value or "")


def _zip(postal_code: str) -> str:
    digits = re.sub(r"\D", "", postal_code)
    return f"{digits[:5]}-{digits[5:]}" if len(digits) == 9 else digits  # NUCC: a 9-digit ZIP keeps its hyphen


def _city_line(address: Address) -> str:
    return f"{_street(address.city)} {address.state} {_zip(address.postal_code)}"


def _put_address(put, item: str, address: Address | None, phone: str) -> None:
    if address is not None:
        put(f"{item}.street", _street(" ".join(filter(None, (address.line1, address.line2)))))
        put(f"{item}.city", _street(address.city))
        put(f"{item}.state", address.state)
        put(f"{item}.zip", _zip(address.postal_code))
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 10:  # NUCC: area code in the parentheses, no hyphen or space in the number
        put(f"{item}.phone_area", digits[:3])
        put(f"{item}.phone", digits[3:])


def _money(amount: Decimal) -> str:
    """Items 24F, 28 and 29: dollars and cents either side of the form's rule, no $ and no commas (NUCC)."""
    cents = int((Decimal(amount) * 100).quantize(Decimal("1")))
    return f"{cents // 100} {cents % 100:02d}"


# --- drawing --------------------------------------------------------------------------------------------------


def _y(top: float) -> float:
    """reportlab measures up from the bottom edge; the grid measures down from the top."""
    return PAGE_HEIGHT - top


def _print_text(pdf: Canvas, where: Slot, text: str) -> None:
    col = where.last_col + 1 - len(text) if where.right_aligned else where.col
    text_object = pdf.beginText(column_left(col) + _DATA_INSET, _y(line_top(where.line + 1)) + _BASELINE_RISE)
    text_object.setFont(DATA_FONT, DATA_SIZE)
    text_object.setCharSpace(COLUMN - _DATA_ADVANCE)  # every character advances exactly one column
    text_object.setFillGray(0)
    text_object.textOut(text)
    pdf.drawText(text_object)


def _label(pdf: Canvas, col: float, line: float, text: str, size: float = 5.5, *, bold: bool = False,
           rise: float = 0.0, centred: bool = False, right: bool = False) -> None:
    """Red label text; `line` may be fractional, `rise` lifts the baseline from the line's bottom (points)."""
    pdf.setFont(LABEL_BOLD if bold else LABEL_FONT, size)
    x, y = column_left(col), _y(line_top(line + 1)) + rise
    if centred:
        pdf.drawCentredString(x, y, text)
    elif right:
        pdf.drawRightString(x, y, text)
    else:
        pdf.drawString(x, y, text)


def _box_label(pdf: Canvas, region: Region) -> None:
    x0, top, _, _ = region.bbox
    size = region.label_size
    pdf.setFont(LABEL_FONT, size)
    for i, text in enumerate(region.label.split("\n")):
        pdf.drawString(x0 + 1.5, _y(top + size + 0.6 + i * (size + 0.6)), text)


def _vline(pdf: Canvas, col: float, first_line: float, last_line: float, *, dotted: bool = False,
           width: float = 0.5) -> None:
    """A vertical rule at column position `col` (a fraction: 9.5 = the middle of column 9) over whole lines."""
    pdf.setLineWidth(width)
    if dotted:
        pdf.setDash(1, 1.5)
    x = column_left(col)
    pdf.line(x, _y(line_top(first_line)), x, _y(line_top(last_line + 1)))
    pdf.setDash()


def _hline(pdf: Canvas, first_col: float, last_col: float, at_line_top: float, *, width: float = 0.5) -> None:
    pdf.setLineWidth(width)
    y = _y(line_top(at_line_top))
    pdf.line(column_left(first_col), y, column_left(last_col + 1), y)


def _checkbox(pdf: Canvas, where: Slot) -> None:
    x0, top, _, bottom = where.bbox
    pdf.setLineWidth(0.5)
    pdf.rect(x0 + 0.2, _y(bottom - 1.3), COLUMN - 0.4, 7.6, stroke=1, fill=0)


def _shade(pdf: Canvas, first_col: float, last_col: float, line: int) -> None:
    pdf.setFillColor(RED_SHADE)
    pdf.rect(column_left(first_col), _y(line_top(line + 1)), (last_col + 1 - first_col) * COLUMN, LINE,
             stroke=0, fill=1)
    pdf.setFillColor(RED_INK)


def _draw_form(pdf: Canvas) -> None:
    """The 1500 form itself, in red ink, from REGIONS and SLOTS: what a pre-printed sheet already has."""
    pdf.saveState()
    pdf.setStrokeColor(RED_INK)
    pdf.setFillColor(RED_INK)
    for row in range(LINES_PER_FORM):
        _shade(pdf, 0, 78, FIRST_SERVICE_LINE - 1 + 2 * row)
    for item in ("17a", "32b", "33b"):
        region = REGIONS[item]
        _shade(pdf, region.first_col, region.last_col, region.first_line)

    for region in REGIONS.values():
        if region.frame:
            x0, top, x1, bottom = region.bbox
            pdf.setLineWidth(0.5)
            pdf.rect(x0, _y(bottom), x1 - x0, bottom - top, stroke=1, fill=0)
        if region.label:
            _box_label(pdf, region)
    for where in SLOTS.values():
        if where.checkbox:
            _checkbox(pdf, where)

    _draw_top(pdf)
    _draw_patient_and_insured(pdf)
    _draw_physician_and_supplier(pdf)
    _draw_service_lines(pdf)
    _draw_bottom(pdf)

    # The heavier outer border and the breaks between the form's parts.
    pdf.setLineWidth(1.2)
    x0, top = column_left(0), line_top(7)
    pdf.rect(x0, _y(line_top(62)), column_left(79) - x0, line_top(62) - top, stroke=1, fill=0)
    for line in (31, 41, 55):
        _hline(pdf, 0, 78, line, width=1.0)
    pdf.restoreState()


def _draw_top(pdf: Canvas) -> None:
    _label(pdf, 0, 2, "1500", 20, bold=True, rise=-4)
    _label(pdf, 0, 4, "HEALTH INSURANCE CLAIM FORM", 12.5, bold=True, rise=1)
    _label(pdf, 0, 5, "APPROVED BY NATIONAL UNIFORM CLAIM COMMITTEE (NUCC) 02/12", 5.5, rise=3)
    _checkbox(pdf, Slot(6, 1, 1, "1"))
    _label(pdf, 2.2, 6, "PICA", 5.5, rise=3)
    _checkbox(pdf, Slot(6, 77, 1, "1"))
    _label(pdf, 76.8, 6, "PICA", 5.5, rise=3, right=True)

    # The right margin: the parts of the form, read downwards.
    x = column_left(79) + 9
    for text, first, last in (("CARRIER", 1, 6), ("PATIENT AND INSURED INFORMATION", 7, 30),
                              ("PHYSICIAN OR SUPPLIER INFORMATION", 31, 61)):
        top, bottom = line_top(first) + 3, line_top(last + 1) - 3
        pdf.setLineWidth(0.5)
        pdf.line(x, _y(top), x, _y(bottom))
        for tip, back in ((top, top + 4), (bottom, bottom - 4)):
            pdf.line(x - 2, _y(back), x, _y(tip))
            pdf.line(x + 2, _y(back), x, _y(tip))
        pdf.saveState()
        pdf.translate(x + 3, _y((top + bottom) / 2))
        pdf.rotate(-90)
        pdf.setFont(LABEL_BOLD, 6)
        width = stringWidth(text, LABEL_BOLD, 6)
        pdf.setFillColorRGB(1, 1, 1)
        pdf.rect(-width / 2 - 2, -1, width + 4, 8, stroke=0, fill=1)
        pdf.setFillColor(RED_INK)
        pdf.drawCentredString(0, 0, text)
        pdf.restoreState()


def _draw_patient_and_insured(pdf: Canvas) -> None:
    _label(pdf, 0.2, 7, "1.", 5.5, rise=4)
    for choice, heading, caption in (("medicare", "MEDICARE", "(Medicare#)"), ("medicaid", "MEDICAID", "(Medicaid#)"),
                                     ("tricare", "TRICARE", "(ID#/DoD#)"), ("champva", "CHAMPVA", "(Member ID#)"),
                                     ("group", "GROUP\nHEALTH PLAN", "(ID#)"), ("feca", "FECA\nBLK LUNG", "(ID#)"),
                                     ("other", "OTHER", "(ID#)")):
        col = INSURANCE_TYPE_COLUMNS[choice]
        parts = heading.split("\n")
        for i, part in enumerate(parts):
            _label(pdf, col, 7, part, 5.3, rise=4 if len(parts) == 1 else 6.5 - 5.5 * i)
        _label(pdf, col + 1.2, 8, caption, 5, rise=3)
    for col in (6, 13, 21, 29, 37, 43):
        _vline(pdf, col + 0.5, 8, 8, dotted=True)

    _label(pdf, 33.2, 9, "MM  |  DD  |  YY", 4.5, rise=0.5)
    _label(pdf, 43.5, 9, "SEX", 5.5, rise=4)
    for col in (33.5, 36.5):
        _vline(pdf, col, 10, 10, dotted=True)
    _label(pdf, 41.1, 10, "M", 5.5, rise=3)
    _label(pdf, 46.1, 10, "F", 5.5, rise=3)
    for caption, choice in (("Self", "self"), ("Spouse", "spouse"), ("Child", "child"), ("Other", "other")):
        _label(pdf, RELATIONSHIP_COLUMNS[choice] - 0.2, 12, caption, 5.5, rise=3, right=True)

    for item, state_col, zip_rule, phone_col in (("5", 25.5, 12.5, 14), ("7", 73.5, 62.5, 64)):
        region = REGIONS[item]
        for line in (13, 15):
            _hline(pdf, region.first_col, region.last_col, line)
        _vline(pdf, state_col - 0.5, 13, 14)
        _vline(pdf, zip_rule, 15, 16)
        _label(pdf, region.first_col + 0.2, 13, "CITY", 5.5, rise=5.5)
        _label(pdf, state_col - 0.3, 13, "STATE", 5.5, rise=5.5)
        _label(pdf, region.first_col + 0.2, 15, "ZIP CODE", 5.5, rise=5.5)
        _label(pdf, zip_rule + 0.3, 15, "TELEPHONE (Include Area Code)", 5.5, rise=5.5)
        _label(pdf, phone_col + 0.2, 16, "(", 9, rise=2.5)
        _label(pdf, phone_col + 4.2, 16, ")", 9, rise=2.5)

    for item in ("10a", "10b", "10c"):
        line = REGIONS[item].last_line
        _label(pdf, 36.2, line, "YES", 5.5, rise=3)
        _label(pdf, 42.2, line, "NO", 5.5, rise=3)
    _label(pdf, 44.2, 21, "PLACE (State)", 4.5, rise=0.5)
    _vline(pdf, 44, 22, 22)

    _label(pdf, 55.2, 19, "MM  |  DD  |  YY", 4.5, rise=0.5)
    _label(pdf, 69.5, 19, "SEX", 5.5, rise=4)
    for col in (55.5, 58.5):
        _vline(pdf, col, 20, 20, dotted=True)
    _label(pdf, 67.1, 20, "M", 5.5, rise=3)
    _label(pdf, 74.1, 20, "F", 5.5, rise=3)
    _label(pdf, 53.2, 26, "YES", 5.5, rise=3)
    _label(pdf, 58.2, 26, "NO", 5.5, rise=3)
    _label(pdf, 61, 26, "If yes, complete items 9, 9a, and 9d.", 5.5, bold=True, rise=3)

    _label(pdf, 24.5, 27, "READ BACK OF FORM BEFORE COMPLETING & SIGNING THIS FORM.", 6, bold=True, rise=4,
           centred=True)
    _label(pdf, 0.2, 28, "12. PATIENT'S OR AUTHORIZED PERSON'S SIGNATURE  I authorize the release of any medical or "
                         "other information necessary", 4.8, rise=4)
    _label(pdf, 0.2, 29, "to process this claim. I also request payment of government benefits either to myself or "
                         "to the party who accepts assignment", 4.8, rise=8)
    _label(pdf, 0.2, 29, "below.", 4.8, rise=3)
    _label(pdf, 49.2, 27, "13. INSURED'S OR AUTHORIZED PERSON'S SIGNATURE I authorize", 4.8, rise=4)
    _label(pdf, 49.2, 28, "payment of medical benefits to the undersigned physician or supplier for", 4.8, rise=7)
    _label(pdf, 49.2, 28, "services described below.", 4.8, rise=1.5)
    for col, signed_col in ((0.3, 30.5), (49.3, None)):
        _label(pdf, col, 30, "SIGNED", 5.5, rise=3)
        if signed_col is not None:
            _label(pdf, signed_col, 30, "DATE", 5.5, rise=3)


def _draw_physician_and_supplier(pdf: Canvas) -> None:
    for col in (4.5, 7.5):
        _vline(pdf, col, 32, 32, dotted=True)
    _label(pdf, 10.3, 32, "QUAL.", 5.5, rise=3)
    _vline(pdf, 10, 32, 32)
    _label(pdf, 30.3, 32, "QUAL.", 5.5, rise=3)
    _vline(pdf, 35.5, 32, 32)
    for first in (49.3, 63.3):
        _label(pdf, first, 32, "FROM" if first < 60 else "TO", 5.5, rise=3)
    for first in (49.3, 63.3):
        _label(pdf, first, 34, "FROM" if first < 60 else "TO", 5.5, rise=3)
    _vline(pdf, 3.5, 34, 34, dotted=True)
    _vline(pdf, 33.5, 33, 33, dotted=True)

    _label(pdf, 62.3, 35, "$ CHARGES", 5.5, rise=5.5)
    _vline(pdf, 61, 35, 36)
    _label(pdf, 53.2, 36, "YES", 5.5, rise=3)
    _label(pdf, 58.2, 36, "NO", 5.5, rise=3)

    _label(pdf, 39.8, 37, "ICD Ind.", 5.5, rise=3)
    for col in (44.5, 46.5):
        _vline(pdf, col, 37, 37, dotted=True)
    for letter in "ABCDEFGHIJKL":
        where = SLOTS[f"21.{letter}"]
        _label(pdf, where.col - 1.6, where.line, f"{letter}.", 5.5, rise=3)
        _hline(pdf, where.col - 0.2, where.last_col + 0.2, where.line + 1 - 0.15, width=0.4)
    _label(pdf, 61.2, 37, "ORIGINAL REF. NO.", 5.5, rise=5.5)
    _vline(pdf, 60.5, 38, 38)


def _draw_service_lines(pdf: Canvas) -> None:
    _label(pdf, 1.5, 42, "From", 5, rise=6)
    _label(pdf, 11, 42, "To", 5, rise=6)
    for col, text in ((1, "MM"), (4, "DD"), (7, "YY"), (10, "MM"), (13, "DD"), (16, "YY")):
        _label(pdf, col, 42, text, 4.6, rise=1)
    _label(pdf, 24.3, 42, "CPT/HCPCS", 4.6, rise=1)
    _label(pdf, 33.5, 42, "MODIFIER", 4.6, rise=1)
    for row in range(1, LINES_PER_FORM + 1):
        unshaded = FIRST_SERVICE_LINE + 2 * (row - 1)
        _hline(pdf, 0, 78, unshaded - 1)
        _label(pdf, 0.5, unshaded, str(row), 7, bold=True, rise=2.5, centred=True)
        _label(pdf, 65.3, unshaded, "NPI", 5.5, rise=3)
        for col in (3.5, 6.5, 12.5, 15.5, 34.5, 37.5, 40.5):
            _vline(pdf, col, unshaded, unshaded, dotted=True)
        for col in (9.5, 31.5, 55.5):
            _vline(pdf, col, unshaded, unshaded)
        _vline(pdf, 67, unshaded - 1, unshaded - 1)  # 24I/24J's shaded half: qualifier | other id
        pdf.setDash(1, 1.5)
        _hline(pdf, 65, 78, unshaded)
        pdf.setDash()


def _draw_bottom(pdf: Canvas) -> None:
    _label(pdf, 17.5, 55, "SSN", 5, rise=1, centred=True)
    _label(pdf, 19.5, 55, "EIN", 5, rise=1, centred=True)
    _label(pdf, 37.2, 55, "(For govt. claims, see back)", 4.5, rise=0.5)
    _label(pdf, 39.2, 56, "YES", 5.5, rise=3)
    _label(pdf, 44.2, 56, "NO", 5.5, rise=3)
    _label(pdf, 49.3, 56, "$", 7, rise=2.5)
    _vline(pdf, 57.5, 56, 56, dotted=True)
    _label(pdf, 61.3, 56, "$", 7, rise=2.5)
    _vline(pdf, 67.5, 56, 56, dotted=True)
    _label(pdf, 0.3, 61, "SIGNED", 5.5, rise=3)
    _label(pdf, 10.3, 61, "DATE", 5.5, rise=3)
    for region in ("32a", "32b", "33a", "33b"):
        _vline(pdf, REGIONS[region].first_col, 61, 61)
    _label(pdf, 65.3, 57, "(", 8, rise=2.5)
    _label(pdf, 69.3, 57, ")", 8, rise=2.5)
    _label(pdf, 0, 63, "NUCC Instruction Manual available at: www.nucc.org", 5.5, bold=True, rise=6)
    _label(pdf, 39, 63, "PLEASE PRINT OR TYPE", 7.5, bold=True, rise=5, centred=True)
    _label(pdf, 79, 63, "APPROVED OMB-0938-1197 FORM 1500 (02-12)", 5.5, bold=True, rise=6, right=True)
