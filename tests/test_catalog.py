from pathlib import Path

import pytest
import yaml

from early_warning import CatalogError, load_catalog
from early_warning.catalog import Catalog

# Ids other tools rely on, with the kind and the direction of risk they must have.
REQUIRED = {
    "ru_support_share_gdp": ("continuous", None),
    "energy_subsidy_share_gdp": ("continuous", None),
    "gas_price_usd_tcm": ("continuous", None),
    "oil_discount_pct": ("continuous", None),
    "ru_troops_in_belarus": ("continuous", True),
    "ru_formations_near_border": (None, True),
    "joint_exercise_scale": (None, True),
    "exercise_transparency": ("ordinal", False),
    "post_exercise_withdrawal": ("boolean", False),
    "ru_base_status": ("ordinal", True),
    "integration_roadmap_progress": ("continuous", None),
    "integration_ultimatum": ("ordinal", True),
}
FAMILIES = {"economic_dependence", "military_posture", "transparency", "integration_political"}


@pytest.mark.parametrize("indicator_id", sorted(REQUIRED))
def test_required_indicator_exists_with_its_meaning(
    real_catalog: Catalog, indicator_id: str
) -> None:
    ind = real_catalog.get(indicator_id)
    kind, higher_is_riskier = REQUIRED[indicator_id]
    if kind:
        assert ind.kind == kind
    if higher_is_riskier is not None:
        assert ind.higher_is_riskier is higher_is_riskier
    assert ind.citations and ind.direction_reasoning


def test_required_levels_match_the_contract(real_catalog: Catalog) -> None:
    assert len(real_catalog.get("ru_base_status").levels or {}) == 5
    assert len(real_catalog.get("exercise_transparency").levels or {}) == 4
    assert len(real_catalog.get("integration_ultimatum").levels or {}) == 3
    assert real_catalog.get("integration_roadmap_progress").range == (0.0, 1.0)


def test_real_catalog_has_several_dozen_indicators_in_the_four_families(
    real_catalog: Catalog,
) -> None:
    assert set(real_catalog.families) >= FAMILIES
    assert len(real_catalog) >= 36
    for family in FAMILIES:
        assert len(real_catalog.families[family].indicators) >= 5, family


def test_every_citation_names_a_publication_with_author_title_publisher_date(
    real_catalog: Catalog,
) -> None:
    for ind in real_catalog:
        for citation in ind.citations:
            source = real_catalog.sources[citation.source]
            assert source.author and source.title and source.publisher and source.date
            assert "seeds" not in citation.section and ".txt" not in citation.section


def test_catalog_version_changes_when_a_file_changes(catalog_dir: Path) -> None:
    before = load_catalog(catalog_dir).version
    path = catalog_dir / "military_posture.yaml"
    path.write_text(path.read_text().replace("weight: 2.0", "weight: 3.0"))
    assert load_catalog(catalog_dir).version != before


def _break(catalog_dir: Path, file: str, indicator: str, field: str, value: object) -> None:
    path = catalog_dir / file
    data = yaml.safe_load(path.read_text())
    for entry in data["indicators"]:
        if entry["id"] == indicator:
            if value is ...:
                del entry[field]
            else:
                entry[field] = value
    path.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize(
    ("indicator", "field", "value", "message"),
    [
        ("support_share", "kind", "fuzzy", "is not one of"),
        ("support_share", "range", [10, 5], "min < max"),
        ("support_share", "range", ..., "is required"),
        ("support_share", "weight", -1, "must be >= 0"),
        ("support_share", "weight", "heavy", "expected a number"),
        (
            "support_share",
            "direction",
            {"higher_is_riskier": "yes", "reasoning": "x"},
            "true or false",
        ),
        ("support_share", "direction", {"higher_is_riskier": True}, "reasoning"),
        (
            "support_share",
            "citations",
            [{"source": "nobody", "section": "x"}],
            "not in sources.yaml",
        ),
        ("support_share", "citations", [], "at least one citation"),
        ("support_share", "normalisation", {"method": "ordinal"}, "does not fit kind"),
        ("support_share", "normalisation", {"method": "minmax", "goalposts": [0, 500]}, "outside"),
        ("support_share", "normalisation", {"method": "ln", "goalposts": [0, 50]}, "must be > 0"),
        ("support_share", "normalisation", {"method": "ln"}, "'goalposts' must be"),
        (
            "support_share",
            "normalisation",
            {"method": "baseline", "baseline_weeks": 52},
            "'min_history' must be a whole number from 8 to baseline_weeks (52)",
        ),
        (
            "support_share",
            "normalisation",
            {"method": "baseline", "baseline_weeks": 4, "min_history": 8},
            "'baseline_weeks' must be a whole number >= 8",
        ),
        (
            "support_share",
            "normalisation",
            {"method": "baseline", "baseline_weeks": 52, "min_history": 26, "baseline_from": 1},
            "'baseline_from' must be a number from 0 to below 1",
        ),
        ("support_share", "max_age_days", 0, "whole number of days"),
        ("support_share", "frequency", "sometimes", "is not one of"),
        ("support_share", "wieght", 1, "unknown field"),
        ("support_share", "unit", ..., "is required"),
        ("ultimatum", "levels", {0: "a", 2: "b"}, "without gaps"),
        ("ultimatum", "range", [0, 2], "not used for kind"),
    ],
)
def test_a_catalog_mistake_names_file_indicator_and_field(
    catalog_dir: Path, indicator: str, field: str, value: object, message: str
) -> None:
    _break(catalog_dir, "economic_dependence.yaml", indicator, field, value)
    with pytest.raises(CatalogError) as info:
        load_catalog(catalog_dir)
    text = str(info.value)
    assert "economic_dependence.yaml" in text
    assert f"indicator {indicator!r}" in text
    assert repr(field) in text or field == "direction"
    assert message in text
    assert "\n" not in text


def test_event_indicator_needs_a_half_life(catalog_dir: Path) -> None:
    _break(catalog_dir, "military_posture.yaml", "incidents", "half_life_days", ...)
    with pytest.raises(CatalogError, match="'incidents': field 'half_life_days': is required"):
        load_catalog(catalog_dir)


def test_duplicate_ids_across_files_are_refused(catalog_dir: Path) -> None:
    _break(catalog_dir, "military_posture.yaml", "troops", "id", "support_share")
    with pytest.raises(CatalogError, match=r"also defined in economic_dependence\.yaml"):
        load_catalog(catalog_dir)


def test_invalid_yaml_names_the_line(catalog_dir: Path) -> None:
    (catalog_dir / "other.yaml").write_text("family:\n  id: other\n  name: [unclosed\n")
    with pytest.raises(CatalogError, match=r"other.yaml: line \d+: invalid YAML"):
        load_catalog(catalog_dir)


def test_family_id_must_match_file_name(catalog_dir: Path) -> None:
    path = catalog_dir / "military_posture.yaml"
    path.write_text(path.read_text().replace("id: military_posture", "id: military"))
    with pytest.raises(CatalogError, match="must match the file name"):
        load_catalog(catalog_dir)


def test_missing_folder_and_missing_sources(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="catalog folder not found"):
        load_catalog(tmp_path / "nowhere")
    with pytest.raises(CatalogError, match=r"sources\.yaml: file not found"):
        load_catalog(tmp_path)


@pytest.mark.parametrize(
    ("indicator", "text", "expected"),
    [
        ("support_share", "12.5", 12.5),
        ("support_share", "0", 0.0),
        ("ultimatum", "2", 2.0),
        ("ultimatum", "Explicit Ultimatum", 2.0),
        ("withdrawn", "yes", 1.0),
        ("withdrawn", "FALSE", 0.0),
        ("withdrawn", "0", 0.0),
    ],
)
def test_values_parse_by_kind(catalog: Catalog, indicator: str, text: str, expected: float) -> None:
    assert catalog.get(indicator).parse_value(text) == expected


@pytest.mark.parametrize(
    ("indicator", "text", "reason"),
    [
        ("support_share", "101", "outside the valid range"),
        ("support_share", "-1", "outside the valid range"),
        ("support_share", "nan", "not a finite number"),
        ("support_share", "1,5", "not a number"),
        ("ultimatum", "3", "not a level"),
        ("ultimatum", "maybe", "not a level"),
        ("withdrawn", "perhaps", "not a boolean"),
    ],
)
def test_bad_values_say_why(catalog: Catalog, indicator: str, text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        catalog.get(indicator).parse_value(text)


def test_the_documented_example_indicator_loads(catalog_dir: Path) -> None:
    from .conftest import PROJECT

    text = (PROJECT / "docs" / "catalog.md").read_text()
    example = yaml.safe_load(text.split("```yaml")[1].split("```")[0])
    entry = example["indicators"][0]
    entry["id"] = "documented_example"
    entry["citations"] = [{"source": "testpub2019", "section": "Economy"}]
    path = catalog_dir / "economic_dependence.yaml"
    data = yaml.safe_load(path.read_text())
    data["indicators"].append(entry)
    path.write_text(yaml.safe_dump(data))
    assert load_catalog(catalog_dir).get("documented_example").unit == "% of GDP"


def test_half_life_only_on_event_indicators(catalog_dir: Path) -> None:
    _break(catalog_dir, "economic_dependence.yaml", "support_share", "half_life_days", 30)
    with pytest.raises(CatalogError, match="only event indicators decay"):
        load_catalog(catalog_dir)
