"""Tests of the CTP DicomPixelAnonymizer script detector (dctredact.detect.rules)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence

from dctredact.detect.base import Detection
from dctredact.detect.rules import (
    PixelScript,
    Region,
    RulesDetector,
    element_value,
    load_script,
    parse_script,
)
from dctredact.errors import DctRedactError, InvalidDicomError, RulesSyntaxError
from dctredact.geometry import Box

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ctp"

SCRIPTS = {
    "DicomPixelAnonymizer.script": (52, 62),
    "example-dicom-pixel-anonymizer.script": (44, 54),
    "dicom-pixel-anonymizer.script": (35, 44),
    "DicomAnonymizerTool-libraries-dicom-pixel-anonymizer.script": (45, 55),
    "stanford-scrubber.script": (188, 204),
}


def no_frames():  # the rules detector never decodes pixels
    raise AssertionError("frames must not be requested")


def make_ds(**elements: object) -> Dataset:
    ds = Dataset()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def holds(condition: str, ds: Dataset) -> bool:
    script = parse_script("{ " + condition + " } (0,0,1,1)")
    assert len(script.rules) == 1
    return script.rules[0].matches(ds)


# --------------------------------------------------------------------------------------
# The real scripts
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("filename", "counts"), sorted(SCRIPTS.items()))
def test_real_scripts_rule_and_region_counts(filename: str, counts: tuple[int, int]) -> None:
    script = load_script(FIXTURES / filename)
    rules, regions = counts
    assert len(script.rules) == rules
    assert sum(len(r.regions) for r in script.rules) == regions
    assert [r.index for r in script.rules] == list(range(1, rules + 1))
    assert all(r.condition.error is None for r in script.rules)
    assert script.name == str(FIXTURES / filename)


@pytest.mark.parametrize("filename", sorted(SCRIPTS))
def test_real_scripts_parse_in_strict_mode_except_known_quirks(filename: str) -> None:
    # Region problems are never fatal; the conditions of all five scripts are well formed.
    script = load_script(FIXTURES / filename, strict=True)
    assert len(script.rules) == SCRIPTS[filename][0]


def test_stanford_skips_the_three_field_region_with_one_warning() -> None:
    script = load_script(FIXTURES / "stanford-scrubber.script")
    region_warnings = [w for w in script.warnings if "skipping region" in w]
    assert region_warnings == [
        f"{FIXTURES / 'stanford-scrubber.script'}:176: rule 16: skipping region "
        "'(675 505, 780, 535)': expected four comma-separated integers (x,y,w,h)"
    ]
    rule16 = script.rules[15]
    assert rule16.warnings == tuple(region_warnings)


def test_stanford_typo_tag_is_flagged_and_never_true() -> None:
    script = load_script(FIXTURES / "stanford-scrubber.script")
    typo = [w for w in script.warnings if "[1018,1018]" in w]
    assert typo == [
        f"{FIXTURES / 'stanford-scrubber.script'}:142: rule 15: '[1018,1018]' is not a "
        "known DICOM element (1018,1018)"
    ]
    rule15 = script.rules[14]
    assert rule15.line == 139
    # A GE Discovery with Xeleris 4 in (0018,1018): the author meant the second
    # alternative to match it, but it reads the typo (1018,1018), which real data lacks.
    ds = make_ds(
        Manufacturer="GE MEDICAL SYSTEMS",
        Modality="PT",
        ManufacturerModelName="Discovery 690",
        SecondaryCaptureDeviceManufacturerModelName="Xeleris 4",  # (0018,1018)
        SoftwareVersions="4.0",
        Rows=512,
        Columns=512,
    )
    assert element_value(ds, "[1018,1018]") == ""
    assert not holds('[1018,1018].startsWithIgnoreCase("Xeleris 4")', ds)
    assert not rule15.matches(ds)
    match = script.match(ds)
    assert match is None or match.index != 15
    ds.SecondaryCaptureDeviceManufacturerModelName = "Volume Viewer 11"
    assert rule15.matches(ds)


def test_real_style_ge_ultrasound_matches_expected_rule() -> None:
    script = load_script(FIXTURES / "DicomPixelAnonymizer.script")
    ds = make_ds(
        Modality="US",
        Manufacturer="GE Healthcare",
        ManufacturerModelName="LOGIQE9",
        Rows=720,
        Columns=960,
    )
    rule = script.match(ds)
    assert rule is not None
    assert (rule.index, rule.line) == (19, 141)
    assert rule.boxes(720, 960) == [Box(0, 0, 960, 70)]
    det = RulesDetector(script).detect(ds, no_frames)
    assert det.boxes == [Box(0, 0, 960, 70)]
    assert [b.source for b in det.boxes] == ["rules"]
    assert det.notes == [f"rule 19 (line 141) of {script.name} matched"]
    assert det.frame_boxes == {}


def test_real_style_ge_ct_screen_capture_has_two_regions() -> None:
    script = load_script(FIXTURES / "DicomPixelAnonymizer.script")
    ds = make_ds(
        BurnedInAnnotation="YES",
        Manufacturer="GE MEDICAL SYSTEMS",
        Rows=1024,
        Columns=1024,
        SeriesDescription="Screen Save",
    )
    rule = script.match(ds)
    assert rule is not None and (rule.index, rule.line) == (8, 59)
    assert rule.boxes(1024, 1024) == [Box(0, 0, 300, 150), Box(724, 0, 300, 150)]


def test_real_script_first_match_shadows_more_specific_rule() -> None:
    # Rules 50 and 51 of DicomPixelAnonymizer.script: 51 adds a test to 50, so CTP's
    # first-match semantics never reach it.
    script = load_script(FIXTURES / "DicomPixelAnonymizer.script")
    ds = make_ds(Manufacturer="ADAC", Rows=832, Columns=1024, ProtocolName="DUAL DETECTOR")
    assert script.rules[50].matches(ds)
    rule = script.match(ds)
    assert rule is not None and rule.index == 50


def test_real_script_mindray_reads_file_meta() -> None:
    script = load_script(FIXTURES / "DicomPixelAnonymizer.script")
    ds = make_ds(Modality="US", Rows=100, Columns=2000)
    assert script.match(ds) is None
    ds.file_meta = FileMetaDataset()
    ds.file_meta.ImplementationVersionName = "MINDRAY_1.0"
    rule = script.match(ds)
    assert rule is not None and rule.index == 17
    assert rule.boxes(100, 2000) == [Box(0, 0, 1229, 69)]


def test_real_script_no_match_note() -> None:
    script = load_script(FIXTURES / "DicomPixelAnonymizer.script")
    det = RulesDetector(script).detect(make_ds(Modality="MR", Rows=256), no_frames)
    assert det == Detection(notes=[f"no rule of {script.name} matched"])


def test_fixture_sources_are_the_documented_files() -> None:
    sources = (FIXTURES / "SOURCES.md").read_text(encoding="utf-8")
    for filename in SCRIPTS:
        assert f"`{filename}`" in sources


# --------------------------------------------------------------------------------------
# Script structure
# --------------------------------------------------------------------------------------


def test_free_text_comments_and_region_scoping() -> None:
    text = (
        "Header text (ignored, before the first rule)\n"
        "// comment (1,2,3,4) between rules is free text; its region counts like CTP\n"
        '{ Modality.equals("CT") }  (1,2,3,4)\n'
        "  free text\n"
        "  (5,6,7,8)\n"
        '{ Modality.equals("MR") // a comment inside a condition\n'
        '  * Rows.equals("10") } (9, 10 ,11,12)(13,14,15,16)\n'
    )
    script = parse_script(text, name="t.script")
    assert [r.line for r in script.rules] == [3, 6]
    assert [(g.x, g.y, g.w, g.h, g.line) for g in script.rules[0].regions] == [
        (1, 2, 3, 4, 3),
        (5, 6, 7, 8, 5),
    ]
    assert [(g.x, g.y, g.w, g.h) for g in script.rules[1].regions] == [
        (9, 10, 11, 12),
        (13, 14, 15, 16),
    ]
    assert script.warnings == []
    assert script.rules[1].matches(make_ds(Modality="MR", Rows=10))
    assert not script.rules[1].matches(make_ds(Modality="MR", Rows=11))


def test_comment_hides_rest_of_line_inside_condition() -> None:
    ds = make_ds(Modality="CT")
    assert holds('Modality.equals("CT") // + Modality.equals("nope")\n', ds)
    assert not holds('Modality.equals("MR") // + Modality.equals("CT")\n', ds)


def test_region_parsing_quirks() -> None:
    script = parse_script(
        "{true} (1,2,3,4,) (1,2,3) (a,b,c,d) (1,2,3,4, ) ( -5 , +6 , 7 , 8 ) (1,2,-3,4)",
        name="r",
    )
    rule = script.rules[0]
    # Java's split drops trailing empty fields, so "(1,2,3,4,)" is a valid region.
    assert [(g.x, g.y, g.w, g.h) for g in rule.regions] == [
        (1, 2, 3, 4),
        (-5, 6, 7, 8),
        (1, 2, -3, 4),
    ]
    assert script.warnings == [
        "r:1: rule 1: skipping region '(1,2,3)': expected four comma-separated integers (x,y,w,h)",
        "r:1: rule 1: skipping region '(a,b,c,d)': expected four comma-separated integers "
        "(x,y,w,h)",
        "r:1: rule 1: skipping region '(1,2,3,4, )': expected four comma-separated "
        "integers (x,y,w,h)",
        "r:1: rule 1: region '(1,2,-3,4)' has a negative size and covers nothing",
    ]
    assert rule.boxes(100, 100) == [Box(1, 2, 3, 4), Box(95, 6, 5, 8)]


def test_rule_without_regions_warns() -> None:
    script = parse_script('{ Modality.equals("CT") } no regions here', name="n")
    assert script.rules[0].regions == ()
    assert script.warnings == ["n:1: rule 1 has no regions"]
    det = RulesDetector(script).detect(make_ds(Modality="CT", Rows=5, Columns=5), no_frames)
    assert det.boxes == []
    assert det.notes[0] == "rule 1 (line 1) of n matched"


def test_brace_inside_quotes_ends_condition_like_ctp() -> None:
    # CTP finds conditions with \{[^\}]*\}: a "}" inside a string ends the condition.
    script = parse_script('{ SeriesDescription.equals("}") } (0,0,1,1)')
    assert script.rules[0].condition.text == ' SeriesDescription.equals("'
    assert script.rules[0].condition.error is None
    assert not script.rules[0].matches(make_ds(SeriesDescription="}"))
    assert any("not a quoted string" in w for w in script.warnings)


def test_empty_script() -> None:
    script = parse_script("just text, no rules (1,2,3,4)")
    assert script.rules == [] and script.warnings == []
    assert script.match(make_ds(Modality="CT")) is None


# --------------------------------------------------------------------------------------
# Functions
# --------------------------------------------------------------------------------------

FUNCTION_CASES = [
    ("equals", "GE MEDICAL", True),
    ("equals", "ge medical", False),
    ("equals", "GE", False),
    ("equalsIgnoreCase", "ge medical", True),
    ("equalsIgnoreCase", "ge medica", False),
    ("contains", "MEDIC", True),
    ("contains", "medic", False),
    ("containsIgnoreCase", "medic", True),
    ("containsIgnoreCase", "xyz", False),
    ("startsWith", "GE ", True),
    ("startsWith", "ge ", False),
    ("startsWithIgnoreCase", "ge ", True),
    ("startsWithIgnoreCase", "medical", False),
    ("endsWith", "ICAL", True),
    ("endsWith", "ical", False),
    ("endsWithIgnoreCase", "ical", True),
    ("endsWithIgnoreCase", "ge", False),
    ("matches", "GE.*", True),
    ("matches", "GE", False),  # full match, not search
    ("matches", "(?i)ge medical", True),
    ("matches", "[A-Z]+ [A-Z]+", True),
    ("matches", r"\w+\s\w+", True),
]


@pytest.mark.parametrize(("function", "argument", "expected"), FUNCTION_CASES)
def test_functions(function: str, argument: str, expected: bool) -> None:
    ds = make_ds(Manufacturer="GE MEDICAL")
    assert holds(f'Manufacturer.{function}("{argument}")', ds) is expected


@pytest.mark.parametrize(
    ("value", "condition", "expected"),
    [
        ("512", 'Rows.isLessThan("1024")', True),
        ("512", 'Rows.isLessThan("512")', False),
        ("512", 'Rows.isGreaterThan("100")', True),
        ("512", 'Rows.isGreaterThan("1000")', False),
    ],
)
def test_numeric_comparisons_on_us(value: str, condition: str, expected: bool) -> None:
    assert holds(condition, make_ds(Rows=int(value))) is expected


def test_numeric_comparison_quirks() -> None:
    # CTP strips everything but digits and dots before Double.parseDouble.
    assert holds('WindowWidth.isGreaterThan("399.5")', make_ds(WindowWidth="400"))
    assert holds('SliceThickness.isGreaterThan("2")', make_ds(SliceThickness="2.5"))
    # "-5" becomes 5 (the sign is stripped), so it is *greater* than 4.
    assert holds('SeriesDescription.isGreaterThan("4")', make_ds(SeriesDescription="-5"))
    # Two values "40\400" read as "40\400" -> "40400".
    assert holds('WindowWidth.isGreaterThan("40000")', make_ds(WindowWidth=["40", "400"]))
    # Missing element or no number: false both ways.
    assert not holds('WindowWidth.isLessThan("10")', make_ds())
    assert not holds('WindowWidth.isGreaterThan("10")', make_ds())
    assert not holds('Modality.isLessThan("10")', make_ds(Modality="CT"))
    assert not holds('Rows.isLessThan("1.2.3")', make_ds(Rows=1))


def test_numbers_compare_as_strings_for_equals() -> None:
    ds = make_ds(Rows=512, Columns=512, WindowWidth="400.0", InstanceNumber="7")
    assert holds('Rows.equals("512")', ds)
    assert not holds('Rows.equals("512.0")', ds)
    assert holds('WindowWidth.equals("400.0")', ds)
    assert not holds('WindowWidth.equals("400")', ds)
    assert holds('InstanceNumber.equals("7")', ds)


def test_float_vrs_format_like_java() -> None:
    ds = Dataset()
    ds.add_new(0x00189087, "FD", 1000.0)  # DiffusionBValue
    ds.add_new(0x00181310, "US", [0, 256, 256, 0])  # AcquisitionMatrix
    ds.add_new(0x00700233, "FL", 0.1)  # a FL element
    ds.add_new(0x00189089, "FD", [1e10, 1e-4, 1.5])
    assert element_value(ds, "DiffusionBValue") == "1000.0"
    assert element_value(ds, "AcquisitionMatrix") == "0\\256\\256\\0"
    assert element_value(ds, "[0070,0233]") == "0.1"
    assert element_value(ds, "[0018,9089]") == "1.0E10\\1.0E-4\\1.5"


def test_unknown_function_and_unquoted_argument_are_false_with_warnings() -> None:
    ds = make_ds(Modality="CT")
    script = parse_script(
        '{ Modality.equal("CT") } (0,0,1,1)\n'
        "{ Modality.equals(CT) } (0,0,1,1)\n"
        '{ Modality.equal("CT") + Modality.equals("CT") } (0,0,2,2)\n',
        name="s",
    )
    assert [r.matches(ds) for r in script.rules] == [False, False, True]
    assert script.match(ds) is script.rules[2]
    assert len(script.warnings) == 3
    assert script.warnings[0].startswith("s:1: rule 1: unknown function 'equal'")
    assert script.warnings[1] == (
        "s:2: rule 2: the argument of Modality.equals(...) is not a quoted string; "
        "the test is always false"
    )
    with pytest.raises(RulesSyntaxError, match=r"^s: line 1: rule 1: unknown function"):
        parse_script('{ Modality.equal("CT") } (0,0,1,1)', name="s", strict=True)


def test_quoted_argument_may_hold_parentheses_dots_and_operators() -> None:
    ds = make_ds(SeriesDescription="A.(b) + c*!")
    assert holds('SeriesDescription.equals("A.(b) + c*!")', ds)
    assert holds('SeriesDescription.equals("")', make_ds())


def test_invalid_regex_makes_rule_fail() -> None:
    script = parse_script('{ SeriesDescription.matches("(") } (0,0,1,1)', name="x")
    assert script.rules[0].condition.error is not None
    assert not script.rules[0].matches(make_ds(SeriesDescription="("))
    assert script.warnings[0].startswith("x:1: rule 1: invalid regular expression")
    with pytest.raises(RulesSyntaxError):
        parse_script('{ Modality.matches("(") } (0,0,1,1)', strict=True)


def test_java_regex_translation() -> None:
    ds = make_ds(SeriesDescription="AB12")
    assert holds(r'SeriesDescription.matches("(?<p>[A-Z]+)\d+")', ds)
    assert holds(r'SeriesDescription.matches("(?<p>[A-Z])\k<p>?B12")', ds)
    # Java's \d and \w are ASCII-only by default.
    assert not holds(r'SeriesDescription.matches("\d+")', make_ds(SeriesDescription="١٢"))


# --------------------------------------------------------------------------------------
# Operators, precedence, parentheses
# --------------------------------------------------------------------------------------

T = 'Modality.equals("CT")'
F = 'Modality.equals("MR")'


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (f"{T} * {T}", True),
        (f"{T} * {F}", False),
        (f"{F} + {T}", True),
        (f"{F} + {F}", False),
        (f"!{T}", False),
        (f"!{F}", True),
        (f"! {F}", True),
        # * binds tighter than +
        (f"{T} + {F} * {F}", True),
        (f"{F} * {F} + {T}", True),
        (f"({T} + {F}) * {F}", False),
        # ! binds tighter than * and +
        (f"!{F} * {T}", True),
        (f"!{T} * {F}", False),
        (f"!{T} + {T}", True),
        (f"!({T} + {T})", False),
        (f"{T} * !{F}", True),
        (f"{T} * !{F} + {F}", True),
        (f"(({T}))", True),
        (f"({F} + ({T} * ({T} + {F})))", True),
        ("true", True),
        ("false", False),
        (f"false + {T}", False),  # CTP reads "false + Modality" as one identifier
        (f"{T} + true", True),
        (f"{F} + false", False),
        ("!false", True),
        (f"{T}\n*\n{T}", True),
    ],
)
def test_operators(condition: str, expected: bool) -> None:
    assert holds(condition, make_ds(Modality="CT")) is expected


def test_double_negation_quirk_matches_ctp() -> None:
    # CTP's pushOperator pops an earlier "!" (equal precedence) before any operand is
    # parsed, so "!!x" evaluates as "!x" and "y * !!x" as "!x * !y".
    ds = make_ds(Modality="CT", Rows=1)
    assert holds(f"!!{T}", ds) is False
    assert holds(f"!!{F}", ds) is True
    assert holds(f'Rows.equals("1") * !!{T}', ds) is False
    assert holds(f'Rows.equals("2") * !!{F}', ds) is True


@pytest.mark.parametrize(
    "condition",
    [
        f"({T}",
        f"{T})",
        f"{T} *",
        f"* {T}",
        f"{T} {T}",
        f"{T} & {T}",
        f"{T} | {T}",
        "",
        "  // only a comment",
        f"{T} ? {T}",
        f"{T} * ()",
        'true.equals("x")',
    ],
)
def test_malformed_conditions_never_match_and_warn(condition: str) -> None:
    script = parse_script("{" + condition + "} (0,0,1,1)", name="m")
    rule = script.rules[0]
    assert rule.condition.error is not None
    assert not rule.matches(make_ds(Modality="CT"))
    assert any(w.endswith("the rule never matches") for w in script.warnings)
    with pytest.raises(RulesSyntaxError) as info:
        parse_script("\n\n{" + condition + "} (0,0,1,1)", name="m.script", strict=True)
    assert str(info.value).startswith("m.script: line 3: rule 1:")
    assert isinstance(info.value, DctRedactError)
    assert info.value.path == "m.script"


def test_strict_error_line_points_into_multiline_condition() -> None:
    text = '{ Modality.equals("CT")\n  *\n  *\n  Rows.equals("1") } (0,0,1,1)'
    with pytest.raises(RulesSyntaxError, match=r"line 3: rule 1: an operand"):
        parse_script(text, name="ml", strict=True)


# --------------------------------------------------------------------------------------
# Element access
# --------------------------------------------------------------------------------------


def test_keyword_hex_and_dcm4che_names() -> None:
    ds = make_ds(
        Manufacturer="ACME",
        SoftwareVersions=["V1", "V2"],
        SeriesDescription="s",
        StationAETitle="AE1",
    )
    assert element_value(ds, "Manufacturer") == "ACME"
    assert element_value(ds, "[0008,0070]") == "ACME"
    assert element_value(ds, "[0008,0070") == ""
    assert element_value(ds, "(0008,0070)") == "ACME"
    assert element_value(ds, "00080070") == "ACME"
    assert element_value(ds, "[00080070]") == "ACME"
    assert element_value(ds, "[8,70]") == "ACME"
    assert element_value(ds, "[0008,103e]") == "s"
    assert element_value(ds, "[0008,103E]") == "s"
    assert element_value(ds, "[Manufacturer]") == "ACME"
    # dcm4che-1.4 names
    assert element_value(ds, "SoftwareVersion") == "V1\\V2"
    assert element_value(ds, "SoftwareVersions") == "V1\\V2"
    assert element_value(ds, "StationAET") == "AE1"
    # unresolvable
    assert element_value(ds, "NoSuchKeyword") == ""
    assert element_value(ds, "") == ""
    assert holds('[0008,103e].equals("s")', ds)
    assert holds('SoftwareVersion.startsWith("V1\\\\")', ds) is False  # no escapes in CTP
    assert holds('SoftwareVersion.equals("V1\\V2")', ds)


def test_missing_element_reads_as_empty_string() -> None:
    ds = make_ds(Modality="CT")
    assert holds('Manufacturer.equals("")', ds)
    assert not holds('Manufacturer.contains("x")', ds)
    assert holds('Manufacturer.contains("")', ds)
    assert holds('NotAKeyword.equals("")', ds)
    assert holds('[0009,0010].equals("")', ds)
    ds.Manufacturer = ""
    assert holds('Manufacturer.equals("")', ds)
    ds.Manufacturer = None
    assert holds('Manufacturer.equals("")', ds)


def test_unresolvable_name_warns() -> None:
    script = parse_script('{ NotAKeyword.equals("") } (0,0,1,1)', name="u")
    assert script.warnings == [
        "u:1: rule 1: 'NotAKeyword' names no DICOM element; it always reads as \"\""
    ]


def test_multi_valued_elements_join_with_backslash() -> None:
    ds = make_ds(ImageType=["DERIVED", "SECONDARY", "VOLREN"], WindowWidth=["400", "1500"])
    assert element_value(ds, "ImageType") == "DERIVED\\SECONDARY\\VOLREN"
    assert holds('ImageType.containsIgnoreCase("volren")', ds)
    assert holds('ImageType.equals("DERIVED\\SECONDARY\\VOLREN")', ds)
    assert holds('WindowWidth.startsWith("400\\1")', ds)


def test_sequences_read_the_first_item() -> None:
    item1 = make_ds(CodeMeaning="IEC Body Dosimetry Phantom", CodeValue="113691")
    item2 = make_ds(CodeMeaning="second")
    ds = make_ds(Modality="CT")
    ds.ProcedureCodeSequence = Sequence([item1, item2])
    assert element_value(ds, "ProcedureCodeSequence::CodeMeaning") == ("IEC Body Dosimetry Phantom")
    assert element_value(ds, "ProcedureCodeSeq::CodeMeaning") == "IEC Body Dosimetry Phantom"
    assert element_value(ds, "[0008,1032]::[0008,0104]") == "IEC Body Dosimetry Phantom"
    assert element_value(ds, "ProcedureCodeSequence::CodeMeaning::") == (
        "IEC Body Dosimetry Phantom"
    )
    assert element_value(ds, "ProcedureCodeSequence") == ""  # a sequence has no string
    assert element_value(ds, "Modality::CodeMeaning") == ""  # not a sequence
    assert element_value(ds, "ProcedureCodeSequence::Modality") == ""
    assert element_value(ds, "CodeMeaning") == ""  # not at top level
    assert holds('ProcedureCodeSequence::CodeMeaning.containsIgnoreCase("phantom")', ds)
    assert holds('[0008,1032]::CodeValue.equals("113691")', ds)
    ds.ReferencedImageSequence = Sequence([])
    assert element_value(ds, "ReferencedImageSequence::ReferencedSOPInstanceUID") == ""


def test_private_creator_tags() -> None:
    ds = make_ds(Modality="CT")
    ds.add_new(0x00090010, "LO", "OTHER")
    ds.add_new(0x00090011, "LO", "ACME 1")
    ds.add_new(0x00091012, "LO", "wrong block")
    ds.add_new(0x00091112, "LO", "ACME value")
    ds.add_new(0x00091100, "LO", "offset zero")
    assert element_value(ds, "0009[ACME 1]12") == "ACME value"
    assert element_value(ds, "[0009[ACME 1]12]") == "ACME value"
    assert element_value(ds, "0009,[ACME 1],12") == "ACME value"
    assert element_value(ds, "0009[ OTHER ]12") == "wrong block"
    assert element_value(ds, "0009[ACME 2]12") == ""
    assert element_value(ds, "0009[acme 1]12") == ""  # creator match is case-sensitive
    assert element_value(ds, "0008[ACME 1]12") == ""  # even group: not private
    # CTP quirk: without an element offset the tag is (gggg,bb00), not the creator.
    assert element_value(ds, "0009[ACME 1]") == "offset zero"
    # In a condition the operand must start with "[" or a letter.
    assert holds('[0009[ACME 1]12].equals("ACME value")', ds)
    script = parse_script('{ 0009[ACME 1]12.equals("ACME value") } (0,0,1,1)', name="p")
    assert not script.rules[0].matches(ds)
    assert script.rules[0].condition.error is not None


def test_private_tag_inside_sequence() -> None:
    item = Dataset()
    item.add_new(0x00290010, "LO", "VENDOR")
    item.add_new(0x00291001, "LO", "inner")
    ds = make_ds(Modality="US")
    ds.SequenceOfUltrasoundRegions = Sequence([item])
    assert element_value(ds, "SequenceOfUltrasoundRegions::0029[VENDOR]01") == "inner"
    assert holds('SequenceOfUltrasoundRegions::0029[VENDOR]01.equals("inner")', ds)


def test_private_binary_value_is_decoded() -> None:
    ds = Dataset()
    ds.add_new(0x00190010, "LO", "GEMS_ACQU_01")
    ds.add_new(0x0019100A, "UN", b"LightSpeed ")
    ds.add_new(0x00191010, "OB", b"\x00\x01")
    assert element_value(ds, "0019[GEMS_ACQU_01]0A") == "LightSpeed "
    ds.add_new(0x00420011, "OB", b"%PDF")
    assert element_value(ds, "EncapsulatedDocument") == ""  # binary: no string


def test_file_meta_elements() -> None:
    ds = make_ds(Modality="US")
    ds.file_meta = FileMetaDataset()
    ds.file_meta.ImplementationVersionName = "MINDRAY"
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.50"
    assert element_value(ds, "ImplementationVersionName") == "MINDRAY"
    assert element_value(ds, "[0002,0010]") == "1.2.840.10008.1.2.4.50"
    assert element_value(ds, "root:Modality") == "US"


def test_person_name_and_dates_read_as_text() -> None:
    ds = make_ds(OperatorsName="Doe^John", StudyDate="20240101")
    assert element_value(ds, "OperatorsName") == "Doe^John"
    assert element_value(ds, "OperatorName") == "Doe^John"  # dcm4che-1.4 name
    assert element_value(ds, "StudyDate") == "20240101"


# --------------------------------------------------------------------------------------
# First match, regions, detector
# --------------------------------------------------------------------------------------


def test_first_matching_rule_wins() -> None:
    script = parse_script(
        '{ Modality.equals("MR") } (0,0,1,1)\n'
        '{ Modality.equals("CT") } (0,0,2,2)\n'
        '{ Modality.equals("CT") * Rows.equals("4") } (0,0,3,3)\n'
        "{ true } (0,0,4,4)\n",
        name="fm",
    )
    assert script.match(make_ds(Modality="CT", Rows=4)) is script.rules[1]
    assert script.match(make_ds(Modality="US")) is script.rules[3]
    det = RulesDetector(script).detect(make_ds(Modality="CT", Rows=4, Columns=4), no_frames)
    assert det.boxes == [Box(0, 0, 2, 2)]
    assert det.notes == ["rule 2 (line 2) of fm matched"]


def test_negative_coordinates_count_from_right_and_bottom() -> None:
    assert Region(-100, -20, 100, 20).box(480, 640) == Box(540, 460, 100, 20)
    assert Region(-100, 0, 300, 20).box(480, 640) == Box(540, 0, 100, 20)
    assert Region(-700, -500, 100, 100).box(480, 640) == Box(0, 0, 100, 100)
    assert Region(0, -1, 640, 1).box(480, 640) == Box(0, 479, 640, 1)


def test_regions_are_clipped_to_the_image() -> None:
    assert Region(600, 400, 100, 100).box(480, 640) == Box(600, 400, 40, 80)
    assert Region(0, 0, 10_000, 10_000).box(480, 640) == Box(0, 0, 640, 480)
    assert Region(640, 0, 10, 10).box(480, 640) is None
    assert Region(0, 480, 10, 10).box(480, 640) is None
    assert Region(10, 10, 0, 5).box(480, 640) is None
    assert Region(10, 10, -5, 5).box(480, 640) is None


def test_boxes_drop_regions_outside_and_note_it() -> None:
    script = parse_script("{true} (0,0,10,10) (2000,0,10,10) (-5,-5,10,10)", name="c")
    rule = script.rules[0]
    assert rule.boxes(100, 200) == [Box(0, 0, 10, 10), Box(195, 95, 5, 5)]
    det = RulesDetector(script).detect(make_ds(Rows=100, Columns=200), no_frames)
    assert det.boxes == [Box(0, 0, 10, 10), Box(195, 95, 5, 5)]
    assert det.notes == [
        "rule 1 (line 1) of c matched",
        "1 of 3 regions of rule 1 fall outside the 200x100 image",
    ]


@settings(max_examples=200, deadline=None)
@given(
    x=st.integers(-3000, 3000),
    y=st.integers(-3000, 3000),
    w=st.integers(0, 3000),
    h=st.integers(0, 3000),
    rows=st.integers(1, 2048),
    columns=st.integers(1, 2048),
)
def test_region_box_matches_ctp_adjustment(
    x: int, y: int, w: int, h: int, rows: int, columns: int
) -> None:
    # Reference: CTP Regions.getAdjustedRegions, then keep the part inside the image.
    rx = x + columns if x < 0 else x
    rx = max(rx, 0)
    rw = columns - rx if rx + w > columns else w
    ry = y + rows if y < 0 else y
    ry = max(ry, 0)
    rh = rows - ry if ry + h > rows else h
    box = Region(x, y, w, h).box(rows, columns)
    if rw <= 0 or rh <= 0:
        assert box is None
    else:
        assert box == Box(rx, ry, rw, rh)
        assert box.source == "rules"
        assert box.x >= 0 and box.x1 <= columns and box.y >= 0 and box.y1 <= rows


def test_detector_requires_image_size_when_a_rule_matches() -> None:
    det = RulesDetector(parse_script("{true} (0,0,1,1)", name="z"))
    assert det.name == "rules"
    with pytest.raises(InvalidDicomError, match="Rows/Columns"):
        det.detect(make_ds(Rows=10), no_frames)
    with pytest.raises(InvalidDicomError):
        det.detect(make_ds(Rows=0, Columns=10), no_frames)


def test_detector_notes_never_contain_header_values() -> None:
    script = parse_script(
        '{ PatientName.equals("Doe^Jane") + PatientID.startsWith("") } (0,0,1,1)',
        name="phi.script",
    )
    ds = make_ds(PatientName="Doe^Jane", PatientID="SECRET-123", Rows=8, Columns=8)
    det = RulesDetector(script).detect(ds, no_frames)
    joined = " ".join(det.notes)
    assert "SECRET-123" not in joined
    assert det.texts == []
    assert det.notes == ["rule 1 (line 1) of phi.script matched"]


def test_detector_includes_rule_warnings_in_notes() -> None:
    script = parse_script("{true} (1,2,3) (0,0,4,4)", name="w")
    det = RulesDetector(script).detect(make_ds(Rows=8, Columns=8), no_frames)
    assert det.boxes == [Box(0, 0, 4, 4)]
    assert det.notes == [
        "rule 1 (line 1) of w matched",
        "w:1: rule 1: skipping region '(1,2,3)': expected four comma-separated integers (x,y,w,h)",
    ]


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def test_load_script_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.script"
    with pytest.raises(RulesSyntaxError) as info:
        load_script(missing)
    assert info.value.path == str(missing)
    assert str(info.value).startswith(f"{missing}: cannot read the script")

    bad = tmp_path / "bad.script"
    bad.write_text('x\n{ Modality.equals("CT") * } (0,0,1,1)\n', encoding="utf-8")
    with pytest.raises(RulesSyntaxError) as info:
        load_script(bad, strict=True)
    assert str(info.value).startswith(f"{bad}: line 2: rule 1:")
    lenient = load_script(bad)
    assert isinstance(lenient, PixelScript)
    assert lenient.rules[0].condition.error is not None


def test_load_script_tolerates_bad_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.script"
    path.write_bytes('caf\xe9\n{ Modality.equals("CT") } (0,0,1,1)\n'.encode("latin-1"))
    script = load_script(path)
    assert len(script.rules) == 1
    assert script.warnings == [f"{path}: the script is not valid UTF-8; bad bytes replaced"]
    assert script.match(make_ds(Modality="CT")) is script.rules[0]
